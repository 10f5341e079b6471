/*
 * wss - the NovaCron test guest's memory workload.
 *
 * Why it exists: live-migration tests need a guest that keeps dirtying memory
 * at a known rate with content that compresses and deltas like real memory
 * (code, text, small in-place updates) -- not zero pages, which every
 * migration engine special-cases, and not one byte per page.  It also proves
 * the guest is alive (HEARTBEAT lines on the console) and that its memory
 * survived the trip (every page carries a checksum that is verified before
 * each rewrite; a mismatch prints CORRUPTION).
 *
 * Configuration: "novacron.<key>=<value>" tokens, read from /proc/cmdline, or
 * from argv when arguments are given (so the host can run it for testing):
 *   wss_mb        working-set size in MiB                        (default 64)
 *   rate_mbps     MiB of working set rewritten per second, 0=idle (default 10)
 *   heartbeat_ms  period of HEARTBEAT lines                      (default 200)
 *   mutate_bytes  bytes changed by a small in-place mutation     (default 64)
 *   corpus        ':'-separated files/dirs whose bytes seed pages
 *                 (default /bin/busybox:/sbin/wss:/corpus)
 *   ready_file    created once the working set is filled    (default /run/wss.ready)
 *   duration_s    exit after this many seconds, 0 = never        (default 0)
 *   dump_file     write the working set there on exit (host-side tests of its content)
 *
 * Output lines (stdout, flushed):
 *   WSS-FILLED wss_mb=<n> rate_mbps=<n> corpus_bytes=<n>
 *   HEARTBEAT <counter> <uptime-seconds> dirtied_mb=<n> corrupt=<n>
 *   CORRUPTION page=<index> expected=<hex> found=<hex>
 *   KERNEL-ERROR <kernel log line>      (Oops/BUG:/panic/... seen in /dev/kmsg)
 *   WSS-STOP signal=<n>
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define CORPUS_MAX (24u << 20)

struct config {
    unsigned long wss_mb, rate_mbps, heartbeat_ms, mutate_bytes, duration_s;
    char corpus[1024];
    char ready_file[256];
    char dump_file[256];
};

static volatile sig_atomic_t stop_signal;
static unsigned char *corpus;
static size_t corpus_len;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static void on_signal(int sig) { stop_signal = sig; }

static uint64_t rng(void) {
    /* xorshift64*: cheap, deterministic; only chooses offsets, never content. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static double now_s(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_option(struct config *c, const char *key, const char *val) {
    if (!strcmp(key, "wss_mb")) c->wss_mb = strtoul(val, NULL, 10);
    else if (!strcmp(key, "rate_mbps")) c->rate_mbps = strtoul(val, NULL, 10);
    else if (!strcmp(key, "heartbeat_ms")) c->heartbeat_ms = strtoul(val, NULL, 10);
    else if (!strcmp(key, "mutate_bytes")) c->mutate_bytes = strtoul(val, NULL, 10);
    else if (!strcmp(key, "duration_s")) c->duration_s = strtoul(val, NULL, 10);
    else if (!strcmp(key, "corpus")) snprintf(c->corpus, sizeof c->corpus, "%s", val);
    else if (!strcmp(key, "ready_file")) snprintf(c->ready_file, sizeof c->ready_file, "%s", val);
    else if (!strcmp(key, "dump_file")) snprintf(c->dump_file, sizeof c->dump_file, "%s", val);
}

/* Parses whitespace-separated "novacron.key=value" tokens; others are ignored. */
static void parse_tokens(struct config *c, char *text) {
    for (char *tok = strtok(text, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
        if (strncmp(tok, "novacron.", 9)) continue;
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = 0;
        set_option(c, tok + 9, eq + 1);
    }
}

static void add_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    while (corpus_len < CORPUS_MAX) {
        ssize_t n = read(fd, corpus + corpus_len, CORPUS_MAX - corpus_len);
        if (n <= 0) break;
        corpus_len += (size_t)n;
    }
    close(fd);
}

static void add_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return;
    if (S_ISREG(st.st_mode)) { add_file(path); return; }
    if (!S_ISDIR(st.st_mode)) return;
    DIR *d = opendir(path);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (stat(sub, &st) == 0 && S_ISREG(st.st_mode)) add_file(sub);
    }
    closedir(d);
}

static void load_corpus(const char *spec) {
    corpus = malloc(CORPUS_MAX);
    if (!corpus) { perror("malloc corpus"); exit(2); }
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save, *p = strtok_r(buf, ":", &save); p; p = strtok_r(NULL, ":", &save)) add_path(p);
    if (corpus_len < 4 * PAGE) {
        /* Last resort: printable pseudo-text, still nothing like zero pages. */
        static const char words[] = "migration memory page dirty rate guest host kernel ";
        for (corpus_len = 0; corpus_len < (1u << 20); corpus_len++)
            corpus[corpus_len] = (unsigned char)words[rng() % (sizeof words - 1)];
    }
}

static uint64_t page_sum(const unsigned char *page) {
    const uint64_t *w = (const uint64_t *)page;
    uint64_t h = 0xCBF29CE484222325ull;
    for (unsigned i = 0; i < PAGE / 8; i++) h = (h ^ w[i]) * 0x100000001B3ull;
    return h;
}

static void copy_from_corpus(unsigned char *dst, size_t len) {
    size_t off = (size_t)(rng() % (corpus_len - len));
    memcpy(dst, corpus + off, len);
}

/* One rewrite of a page: mostly a small in-place edit, sometimes new content. */
static void mutate(unsigned char *page, unsigned long mutate_bytes, uint64_t counter) {
    if (rng() % 8 == 0) {
        copy_from_corpus(page, PAGE);
    } else {
        size_t len = mutate_bytes < 8 ? 8 : (mutate_bytes > PAGE ? PAGE : mutate_bytes);
        copy_from_corpus(page + rng() % (PAGE - len + 1), len);
    }
    memcpy(page + (rng() % (PAGE / 8)) * 8, &counter, sizeof counter);
}

static void watch_kmsg(int fd) {
    static const char *markers[] = {"Oops", "BUG:", "Kernel panic", "general protection fault"};
    char rec[8192];
    for (;;) {
        ssize_t n = read(fd, rec, sizeof rec - 1);
        if (n < 0 && errno == EPIPE) continue; /* overwritten records: skip ahead */
        if (n <= 0) return;
        rec[n] = 0;
        char *msg = strchr(rec, ';');
        msg = msg ? msg + 1 : rec;
        for (unsigned i = 0; i < sizeof markers / sizeof *markers; i++)
            if (strstr(msg, markers[i])) {
                printf("KERNEL-ERROR %s", msg);
                if (msg[strlen(msg) - 1] != '\n') putchar('\n');
                fflush(stdout);
                break;
            }
    }
}

int main(int argc, char **argv) {
    struct config c = {64, 10, 200, 64, 0, "/bin/busybox:/sbin/wss:/corpus", "/run/wss.ready", ""};
    if (argc > 1) {
        for (int i = 1; i < argc; i++) parse_tokens(&c, argv[i]);
    } else {
        char cmdline[4096] = {0};
        int fd = open("/proc/cmdline", O_RDONLY);
        if (fd >= 0) { (void)!read(fd, cmdline, sizeof cmdline - 1); close(fd); }
        parse_tokens(&c, cmdline);
    }
    if (c.wss_mb == 0 || c.heartbeat_ms == 0) {
        fprintf(stderr, "wss: wss_mb and heartbeat_ms must be > 0\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPWR, on_signal);
    rng_state ^= (uint64_t)getpid() << 17 ^ (uint64_t)(now_s(CLOCK_MONOTONIC) * 1e6);

    load_corpus(c.corpus);
    size_t pages = (c.wss_mb << 20) / PAGE;
    unsigned char *wss = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint64_t *sums = calloc(pages, sizeof *sums);
    if (wss == MAP_FAILED || !sums) { perror("wss: allocate working set"); return 2; }
    for (size_t i = 0; i < pages; i++) {
        unsigned char *p = wss + i * PAGE;
        copy_from_corpus(p, PAGE);
        memcpy(p, &i, sizeof i); /* pages differ even where the corpus repeats */
        sums[i] = page_sum(p);
    }
    printf("WSS-FILLED wss_mb=%lu rate_mbps=%lu corpus_bytes=%zu\n", c.wss_mb, c.rate_mbps, corpus_len);
    int ready = open(c.ready_file, O_CREAT | O_WRONLY, 0644);
    if (ready >= 0) close(ready);

    int kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
    double start = now_s(CLOCK_MONOTONIC), next_hb = start;
    double pages_per_s = (double)c.rate_mbps * (1 << 20) / PAGE;
    uint64_t written = 0, heartbeat = 0, corrupt = 0;
    size_t cursor = 0;
    while (!stop_signal) {
        double now = now_s(CLOCK_MONOTONIC);
        if (c.duration_s && now - start >= (double)c.duration_s) break;
        /* Catch up with the target rate, in bounded slices so heartbeats stay on time. */
        uint64_t due = (uint64_t)((now - start) * pages_per_s);
        for (unsigned slice = 0; written < due && slice < 2048; slice++, written++) {
            unsigned char *p = wss + cursor * PAGE;
            uint64_t found = page_sum(p);
            if (found != sums[cursor]) {
                if (corrupt++ < 16)
                    printf("CORRUPTION page=%zu expected=%016llx found=%016llx\n", cursor,
                           (unsigned long long)sums[cursor], (unsigned long long)found);
            }
            mutate(p, c.mutate_bytes, written);
            sums[cursor] = page_sum(p);
            cursor = (cursor + 1) % pages;
        }
        if (now >= next_hb) {
            if (kmsg >= 0) watch_kmsg(kmsg);
            printf("HEARTBEAT %llu %.3f dirtied_mb=%llu corrupt=%llu\n", (unsigned long long)heartbeat++,
                   now_s(CLOCK_BOOTTIME), (unsigned long long)(written * PAGE >> 20),
                   (unsigned long long)corrupt);
            next_hb += c.heartbeat_ms / 1000.0;
            if (next_hb < now) next_hb = now + c.heartbeat_ms / 1000.0; /* after a long pause */
        }
        if (written >= due) {
            double wait = next_hb - now_s(CLOCK_MONOTONIC);
            if (wait > 0.005) wait = 0.005;
            if (wait > 0) {
                struct timespec ts = {0, (long)(wait * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
    }
    if (c.dump_file[0]) {
        int fd = open(c.dump_file, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        for (size_t off = 0, n = pages * PAGE; fd >= 0 && off < n;) {
            ssize_t w = write(fd, wss + off, n - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
        if (fd >= 0) close(fd);
    }
    printf("WSS-STOP signal=%d\n", (int)stop_signal);
    return 0;
}

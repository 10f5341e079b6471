"""Example stack: a web VM (placed and migrated by `webNode`), a database VM, and the DWCP mode.

    pulumi config set novacron:endpoint https://node-1:8080
    pulumi config set --secret novacron:token "$(novacron token create)"
    pulumi up                                  # creates both VMs
    pulumi config set memoryMib 2048 && pulumi up   # in-place memory change
    pulumi config set webNode node-2 && pulumi up   # live migration (needs node-2 under `peers`)
"""

import pulumi

import pulumi_novacron as novacron

config = pulumi.Config()
memory_mib = config.get_int("memoryMib") or 1024
web_node = config.get("webNode") or None

web = novacron.VirtualMachine(
    "web",
    name="web-1",
    vcpus=2,
    memory_mib=memory_mib,
    disks=[novacron.DiskSpecArgs(name="root", size_gib=10)],
    networks=[novacron.NetworkSpecArgs(network="default")],
    cloud_init=novacron.CloudInitSpecArgs(
        user_data="#cloud-config\nhostname: web-1\npackages: [nginx]\n",
    ),
    labels={"app": "web", "app.kubernetes.io/tier": "frontend"},
    node=web_node,
    migration=novacron.MigrationOptionsArgs(max_downtime_ms=200, compression="zstd"),
    opts=pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="10m", update="30m")),
)

db = novacron.VirtualMachine(
    "db",
    name="db-1",
    vcpus=2,
    memory_mib=2048,
    disks=[
        novacron.DiskSpecArgs(name="root", size_gib=10),
        novacron.DiskSpecArgs(name="data", size_gib=50, bus="virtio"),
    ],
    networks=[novacron.NetworkSpecArgs(network="default")],
    labels={"app": "db", "backs": web.name},
)

dwcp = novacron.DwcpMode("dwcp", mode="datacenter", enable_v3_transport=True, v3_rollout_percentage=100)

pulumi.export("webNode", web.node)
pulumi.export("webState", web.status.actual_state)
pulumi.export("dbId", db.id)
pulumi.export("dwcpMode", dwcp.status.mode)

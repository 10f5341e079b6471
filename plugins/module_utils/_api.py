# Copyright: NovaCron contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one client the novacron.cloud modules and plugins use to talk to an agent.

Standard library and ansible.module_utils only (it runs on the managed side). Errors carry the
agent's problem+json so messages name the failing field.
"""
from __future__ import annotations

import json
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode
from ansible.module_utils.urls import open_url


def connection_args():
    """A fresh copy of the shared connection options, with env fallbacks Ansible understands."""
    from ansible.module_utils.basic import env_fallback

    return dict(
        url=dict(type='str', required=False, fallback=(env_fallback, ['NOVACRON_URL'])),
        token=dict(type='str', required=False, no_log=True, fallback=(env_fallback, ['NOVACRON_TOKEN'])),
        ca_cert=dict(type='path', required=False),
        validate_certs=dict(type='bool', default=True),
        timeout=dict(type='float', default=60),
    )


class AgentError(Exception):
    """The agent answered with an error (status > 0) or could not be reached (status 0)."""

    def __init__(self, status, title, detail, field=None, errors=None):
        super(AgentError, self).__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
        self.errors = errors or []

    def message(self, context=''):
        prefix = '%s: ' % context if context else ''
        if self.status == 0:
            return '%s%s' % (prefix, self.detail)
        return '%sagent answered %s %s: %s' % (prefix, self.status, self.title, self.detail)


class AgentClient(object):
    """Small JSON client over open_url with bearer auth, TLS options and connection retries."""

    def __init__(self, url, token=None, ca_cert=None, validate_certs=True, timeout=60, retries=3,
                 retry_delay=0.5):
        if not url:
            raise AgentError(0, 'Missing url', 'no agent URL: set the url option or NOVACRON_URL')
        self.url = url.rstrip('/')
        self.token = token
        self.ca_cert = ca_cert
        self.validate_certs = validate_certs
        self.timeout = timeout
        self.retries = retries
        self.retry_delay = retry_delay

    @classmethod
    def from_module(cls, module):
        p = module.params
        try:
            return cls(p.get('url'), p.get('token'), p.get('ca_cert'), p.get('validate_certs', True),
                       p.get('timeout') or 60)
        except AgentError as exc:
            module.fail_json(msg=exc.message())

    def request(self, method, path, body=None, params=None):
        url = self.url + path
        if params:
            query = dict((k, 'true' if v is True else v) for k, v in params.items() if v not in (None, False))
            if query:
                url += '?' + urlencode(query)
        headers = {'Accept': 'application/json, application/problem+json'}
        if self.token:
            headers['Authorization'] = 'Bearer %s' % self.token
        data = None
        if body is not None:
            data = json.dumps(body)
            headers['Content-Type'] = 'application/json'
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = open_url(url, method=method, data=data, headers=headers, timeout=self.timeout,
                                validate_certs=self.validate_certs, ca_path=self.ca_cert,
                                follow_redirects='none')
                raw = resp.read()
                return json.loads(raw) if raw else None
            except HTTPError as exc:
                raise _from_http_error(exc)
            except (URLError, OSError) as exc:
                # Only connection failures are retried: the agent has not seen the request.
                if attempt > self.retries:
                    reason = getattr(exc, 'reason', exc)
                    raise AgentError(0, 'Agent unreachable', 'cannot reach agent at %s: %s' % (self.url, reason))
                time.sleep(self.retry_delay * attempt)

    # resources
    def get_vm(self, name):
        try:
            return self.request('GET', '/api/v1/vms/%s' % quote(name, safe=''))
        except AgentError as exc:
            if exc.status == 404:
                return None
            raise

    def list_vms(self, labels=None):
        path = '/api/v1/vms'
        if labels:
            path += '?' + urlencode([('label', '%s=%s' % (k, v)) for k, v in sorted(labels.items())])
        return self.request('GET', path)

    def put_vm(self, spec, dry_run=False, recreate=False, force_stop=False):
        return self.request('PUT', '/api/v1/vms/%s' % quote(spec['name'], safe=''), body=spec,
                            params=dict(dry_run=dry_run, recreate=recreate, force_stop=force_stop))

    def delete_vm(self, name, dry_run=False, keep_storage=False, force_stop=False):
        return self.request('DELETE', '/api/v1/vms/%s' % quote(name, safe=''),
                            params=dict(dry_run=dry_run, keep_storage=keep_storage, force_stop=force_stop))

    def node(self):
        return self.request('GET', '/api/v1/node')

    def health(self):
        return self.request('GET', '/health')

    def get_mode(self):
        return self.request('GET', '/api/v1/mode')

    def put_mode(self, settings):
        return self.request('PUT', '/api/v1/mode', body=settings)

    def locate_vm(self, name):
        return self.request('GET', '/api/v1/cluster/vms/%s' % quote(name, safe=''))

    def create_migration(self, request, dry_run=False):
        return self.request('POST', '/api/v1/migrations', body=request, params=dict(dry_run=dry_run))

    def get_migration(self, mig_id):
        return self.request('GET', '/api/v1/migrations/%s' % quote(mig_id, safe=''))


def _from_http_error(exc):
    status = exc.code
    title = getattr(exc, 'reason', '') or 'HTTP error'
    detail = ''
    field = None
    errors = None
    try:
        raw = exc.read()
        doc = json.loads(raw) if raw else {}
        if isinstance(doc, dict):
            title = doc.get('title') or title
            detail = doc.get('detail') or ''
            field = doc.get('field')
            errors = doc.get('errors')
    except Exception:  # a non-JSON error body still gives a status and reason
        pass
    return AgentError(status, str(title), detail or str(title), field, errors)


def fail_from_error(module, exc, context='', **result):
    """fail_json with the agent's message, naming the field when the agent named one."""
    extra = {}
    if exc.field:
        extra['field'] = exc.field
    if exc.errors:
        extra['errors'] = exc.errors
    extra['status'] = exc.status
    result.update(extra)
    module.fail_json(msg=exc.message(context), **result)

"""The cluster's X.509 material: a cluster CA and node certificates issued directly by it.

Why here: node identity in the cluster is a certificate of the cluster CA (subject CN and
DNS SubjectAltName = node_id), so the code that makes those certificates lives with the agent
and the Ansible role calls it (`novacron cert ...`) instead of shelling out to openssl.

One module per idea: `authority` (make/load the CA), `node_cert` (node keys, requests, signing),
`expiry` (is a certificate due for renewal), `names` (node ids and host names), `files`
(reading PEM, writing files atomically), `defaults`, `cli` + `commands` (`novacron cert ...`),
`identity` (who a peer is, from its certificate).
"""

from novacron.pki.errors import PkiError

__all__ = ["PkiError"]

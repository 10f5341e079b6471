"""Schema derivation for the faces: Ansible argument specs/docs, Pulumi and Terraform schemas.

Each face's schema is generated from the pydantic models here, so a model change that is not
regenerated fails the freshness tests.
"""

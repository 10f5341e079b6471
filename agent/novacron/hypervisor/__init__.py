"""libvirt: accelerator choice (accel), spec -> domain XML (domain_xml) and back (parse), volumes and
seed ISOs (storage), and HypervisorDriver (driver), the blocking operations the VM service runs."""

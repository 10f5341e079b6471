"""The main.tf shown in terraform_provider/README.md is valid for the real Terraform and this schema."""

from __future__ import annotations

import re
from pathlib import Path

from tests.terraform.conftest import Tf

README = Path(__file__).resolve().parents[2] / "terraform_provider" / "README.md"


def test_readme_main_tf_validates(tf: Tf) -> None:
    blocks = re.findall(r"```hcl\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md lost its main.tf example"
    (tf.dir / "main.tf").write_text(blocks[0])
    (tf.dir / "cloud-init.yaml").write_text("#cloud-config\n")
    tf.init()
    result = tf.run("validate")
    assert "The configuration is valid." in result

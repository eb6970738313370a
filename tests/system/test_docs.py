"""The manual names the same flags as the binary: every flag --help lists is documented in
docs/configuration.md, and every flag that page's table documents is one --help lists."""
import os
import re
import subprocess

from conftest import PROXY_BIN, ROOT


def test_help_and_the_configuration_reference_name_the_same_flags():
    out = subprocess.run([PROXY_BIN, "--help"], capture_output=True, text=True, check=True).stdout
    helped = set(re.findall(r"^  (--[a-z][a-z-]*)", out, re.M))
    with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
        doc = f.read()
    tabled = set(re.findall(r"^\| `(--[a-z][a-z-]*)", doc, re.M))
    assert len(helped) > 30
    assert helped - {"--version", "--help"} <= tabled, helped - tabled
    assert tabled <= helped, tabled - helped
    for flag in helped:
        assert f"`{flag}" in doc, flag

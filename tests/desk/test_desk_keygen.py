"""``shoal desk keygen`` asking for a new passphrase (in-process, with typed input)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from shoal import trusted
from shoal.cli import main


def test_keygen_asks_for_the_passphrase_twice(tmp_path: Path) -> None:
    runner = CliRunner()
    argv = ["desk", "keygen", "--dir", str(tmp_path / "desk"), "--work-factor", "10"]

    slip = runner.invoke(main, argv, input="first try\nfirst tyr\n")
    assert slip.exit_code != 0
    assert not (tmp_path / "desk" / "keystore.age").exists()

    done = runner.invoke(main, argv, input="first try\nfirst try\n")
    assert done.exit_code == 0, done.output
    keystore = trusted.unlock_keystore(tmp_path / "desk" / "keystore.age", "first try")
    assert trusted.Enrollment.parse(done.stdout).verify_key == keystore.signing_key.verify_key
    assert "first try" not in done.output

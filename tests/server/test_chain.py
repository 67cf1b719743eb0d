"""The chain of trust as the server walks it, and the cache of verifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from _server_kit import OrgKit

from shoal import crypto, org
from shoal.server._chain import NoteCache, verify_chain


def test_the_newest_command_key_is_the_command_key(test_org: OrgKit) -> None:
    old_note = test_org.command_note()
    test_org.command_serial = 2
    test_org.command = crypto.NoteSigner(
        org.command_key_name(test_org.org_id, 2), crypto.SigningKey.generate()
    )
    chain = verify_chain(
        test_org.root.verifier, test_org.organization_note(), [test_org.command_note(), old_note]
    )
    assert chain.command.serial == 2


def test_an_epoch_signed_by_a_retired_command_key_is_refused(test_org: OrgKit) -> None:
    old_epoch = test_org.epoch_note("north")
    old_command = test_org.command_note()
    test_org.command_serial = 2
    test_org.command = crypto.NoteSigner(
        org.command_key_name(test_org.org_id, 2), crypto.SigningKey.generate()
    )
    chain = verify_chain(
        test_org.root.verifier,
        test_org.organization_note(),
        [old_command, test_org.command_note()],
    )
    with pytest.raises(crypto.SignatureError):
        NoteCache().signed_epoch(chain, old_epoch)


def test_a_chain_without_a_command_key_is_refused(test_org: OrgKit) -> None:
    with pytest.raises(org.NoteContentError):
        verify_chain(test_org.root.verifier, test_org.organization_note(), [])


def test_the_cache_remembers_signatures_never_time(test_org: OrgKit) -> None:
    now = datetime.now(UTC)
    note = test_org.epoch_note("north", expires=now + timedelta(hours=1))
    cache = NoteCache()
    chain = cache.chain(
        test_org.root.verifier, test_org.organization_note(), [test_org.command_note()]
    )
    first = cache.signed_epoch(chain, note)
    assert cache.signed_epoch(chain, note) is first
    org.check_epoch(first, now=now + timedelta(minutes=59))
    with pytest.raises(org.EpochError):
        org.check_epoch(first, now=now + timedelta(hours=1))


def test_the_cache_is_bounded(test_org: OrgKit) -> None:
    cache = NoteCache(size=2)
    chain = cache.chain(
        test_org.root.verifier, test_org.organization_note(), [test_org.command_note()]
    )
    for number in range(1, 6):
        cache.signed_epoch(chain, test_org.epoch_note("north", number))
    assert len(cache._entries) == 2

"""The organization's chain of trust: root → command key → epochs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from shoal import crypto, org

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclasses.dataclass
class World:
    organization: org.Organization
    root: crypto.NoteSigner
    command: crypto.NoteSigner
    certificate: org.CommandCertificate
    handler_keys: list[crypto.SigningKey]
    handler_ids: list[crypto.AgeIdentity]

    def org_note(self) -> str:
        return crypto.sign_note(self.organization.record(), [self.root])

    def command_note(self) -> str:
        return crypto.sign_note(self.certificate.record(), [self.root])

    def epoch(self, number: int = 1, days: int = 30, **changes: object) -> org.Epoch:
        handlers = tuple(
            org.HandlerEntry(org.handler_id_for(k.verify_key), i.recipient(), k.verify_key)
            for k, i in zip(self.handler_keys, self.handler_ids, strict=True)
        )
        epoch = org.Epoch(
            org_id=self.organization.org_id,
            compartment_id="c" * 32,
            door="news",
            number=number,
            expires=NOW + timedelta(days=days),
            handlers=handlers,
        )
        return dataclasses.replace(epoch, **changes)  # type: ignore[arg-type]

    def epoch_note(self, epoch: org.Epoch, signer: crypto.NoteSigner | None = None) -> str:
        return crypto.sign_note(epoch.record(), [signer or self.command])


def make_world(key_type: crypto.KeyType = crypto.KeyType.HYBRID) -> World:
    organization = org.Organization(org.new_id(), key_type, crypto.generate_salt())
    root = crypto.NoteSigner(org.root_key_name(organization.org_id), crypto.SigningKey.generate())
    command = crypto.NoteSigner(
        org.command_key_name(organization.org_id, 1), crypto.SigningKey.generate()
    )
    certificate = org.CommandCertificate(
        organization.org_id, 1, command.verifier, crypto.generate_identity(key_type).recipient()
    )
    keys = [crypto.SigningKey.generate() for _ in range(2)]
    ids = [crypto.generate_identity(key_type) for _ in range(2)]
    return World(organization, root, command, certificate, keys, ids)


def verify_all(world: World, epoch_note: str, newest_seen: int = 0) -> org.Epoch:
    organization = org.verify_organization(world.org_note(), world.root.verifier)
    certificate = org.verify_command(world.command_note(), world.root.verifier, organization)
    return org.verify_epoch(epoch_note, certificate, organization, now=NOW, newest_seen=newest_seen)


@pytest.mark.parametrize("key_type", list(crypto.KeyType))
def test_the_whole_chain_verifies_and_round_trips(key_type: crypto.KeyType) -> None:
    world = make_world(key_type)
    epoch = world.epoch()
    assert verify_all(world, world.epoch_note(epoch)) == epoch
    assert len(epoch.recipients()) == 2
    assert epoch.handler(world.handler_keys[1].verify_key) == epoch.handlers[1]
    assert epoch.handler(crypto.SigningKey.generate().verify_key) is None


def test_command_and_escrow_recipients_join_the_recipient_set() -> None:
    world = make_world()
    command_reader = crypto.generate_identity().recipient()
    escrow = crypto.generate_identity().recipient()
    epoch = world.epoch(command=command_reader, escrow=escrow)
    verified = verify_all(world, world.epoch_note(epoch))
    assert verified.recipients()[-2:] == [command_reader, escrow]


def test_an_epoch_signed_by_anyone_but_the_certified_command_key_is_refused() -> None:
    world = make_world()
    impostor = crypto.NoteSigner(world.command.name, crypto.SigningKey.generate())
    with pytest.raises(crypto.SignatureError):
        verify_all(world, world.epoch_note(world.epoch(), impostor))
    # The root key itself does not sign epochs either.
    with pytest.raises(crypto.SignatureError):
        verify_all(world, world.epoch_note(world.epoch(), world.root))


def test_a_chain_from_another_organization_is_refused() -> None:
    world, other = make_world(), make_world()
    with pytest.raises(crypto.SignatureError):
        org.verify_organization(other.org_note(), world.root.verifier)
    with pytest.raises(org.NoteContentError):
        verify_all(world, world.epoch_note(world.epoch(org_id=other.organization.org_id)))


def test_expired_and_rolled_back_epochs_are_refused() -> None:
    world = make_world()
    with pytest.raises(org.EpochError, match="expired"):
        verify_all(world, world.epoch_note(world.epoch(days=-1)))
    with pytest.raises(org.EpochError, match="older"):
        verify_all(world, world.epoch_note(world.epoch(number=2)), newest_seen=3)
    assert verify_all(world, world.epoch_note(world.epoch(number=3)), newest_seen=3).number == 3


def test_epochs_never_mix_key_types_or_leave_the_organization_type() -> None:
    world = make_world(crypto.KeyType.HYBRID)
    classic = crypto.generate_identity(crypto.KeyType.X25519).recipient()
    with pytest.raises(org.NoteContentError, match="one key type"):
        verify_all(world, world.epoch_note(world.epoch(escrow=classic)))
    classic_world = make_world(crypto.KeyType.X25519)
    hybrid_epoch = dataclasses.replace(
        classic_world.epoch(),
        handlers=world.epoch().handlers,
        org_id=classic_world.organization.org_id,
    )
    with pytest.raises(org.NoteContentError, match="key type"):
        verify_all(classic_world, classic_world.epoch_note(hybrid_epoch))


def test_an_epoch_without_recipients_is_refused() -> None:
    world = make_world()
    with pytest.raises(org.NoteContentError):
        verify_all(world, world.epoch_note(world.epoch(handlers=())))


def test_a_handler_line_whose_id_does_not_match_its_key_is_refused() -> None:
    world = make_world()
    epoch = world.epoch()
    wrong = dataclasses.replace(epoch.handlers[0], handler_id="0" * 32)
    with pytest.raises(org.NoteContentError, match="handler id"):
        verify_all(world, world.epoch_note(dataclasses.replace(epoch, handlers=(wrong,))))


def test_a_certificate_whose_key_name_does_not_match_its_serial_is_refused() -> None:
    world = make_world()
    world.certificate = dataclasses.replace(world.certificate, serial=2)
    with pytest.raises(org.NoteContentError, match="name"):
        org.verify_command(world.command_note(), world.root.verifier, world.organization)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("shoal epoch v1", "shoal epoch v2"),
        lambda t: t.replace("door news", "door News"),
        lambda t: t.replace("number 1", "number 01"),
        lambda t: t + "surprise field\n",
        lambda t: t.replace("\nexpires ", "\nexpires  "),
        lambda t: t.replace("number 1\n", "number 1\nnumber 2\n"),
        lambda t: "\n".join(line for line in t.split("\n") if not line.startswith("door")),
    ],
)
def test_records_are_parsed_strictly(mutate: object) -> None:
    world = make_world()
    text = mutate(world.epoch().record())  # type: ignore[operator]
    with pytest.raises((org.NoteContentError, crypto.NoteFormatError)):
        verify_all(world, crypto.sign_note(text, [world.command]))


def test_ids_are_random_and_doors_are_checked() -> None:
    assert len({org.new_id() for _ in range(100)}) == 100
    assert org.check_door("news-2") == "news-2"
    for bad in ("", "News", "a/b", "-x", "x" * 64):
        with pytest.raises(ValueError):
            org.check_door(bad)

"""The privacy layer's primitives: view keys, report cipher, escrow, Shamir, transport.

docs/protocol.md, "Privacy and view keys", is the specification these tests check.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import pickle
import stat
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkclear import bounds
from zkclear.clearing.report import Report
from zkclear.field import P
from zkclear.poseidon import poseidon, poseidon_chain
from zkclear.privacy import cipher, compliance, transport
from zkclear.privacy.cipher import Ciphertext, DecryptionError
from zkclear.privacy.compliance import EscrowError, KeyShare, ShareError
from zkclear.privacy.keyfile import KeyFileError, Secret, X25519KeyPair, read_json_secret
from zkclear.privacy.transport import (
    ReplayError,
    ReplayGuard,
    TamperedError,
    TransportError,
    TransportReceiver,
    TransportSender,
    UnknownMemberError,
    WrongRecipientError,
)
from zkclear.privacy.viewkeys import EpochKey, MemberKey, load_key

POOL = "31337:0x5fbdb2315678afecb367f032d93f642f64180aa3"
FE = st.integers(min_value=0, max_value=P - 1)
KEYS = st.integers(min_value=1, max_value=P - 1)
SLOW = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def report(m: int = 3) -> Report:
    return Report.new([(-1) ** i * (7 + i) for i in range(m)], -123_456)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ======================================================================================
# View keys
# ======================================================================================


def test_key_hierarchy_formulas() -> None:
    k = MemberKey(4, 12345)
    assert k.vkh == poseidon([12345])
    ke = k.epoch_key(9)
    assert (ke.slot, ke.epoch, ke.key.reveal()) == (4, 9, poseidon([12345, 9]))
    assert k.epoch_key(9) == ke and k.epoch_key(10) != ke


def test_generated_keys_are_fresh_and_canonical() -> None:
    keys = {MemberKey.generate(1).key.reveal() for _ in range(20)}
    assert len(keys) == 20 and all(0 < v < P for v in keys)


@pytest.mark.parametrize("bad", [0, P, -1, P + 5, True, "12"])
def test_key_values_refused(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        MemberKey(1, bad)  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        EpochKey(1, 2, bad)  # type: ignore[arg-type]


def test_key_files_round_trip_with_mode_0600(tmp_path: Path) -> None:
    k = MemberKey.generate(7)
    ke = k.epoch_key(3)
    k.save(tmp_path / "member.json")
    ke.save(tmp_path / "epoch.json")
    for name in ("member.json", "epoch.json"):
        assert mode_of(tmp_path / name) == 0o600
    assert load_key(tmp_path / "member.json") == k
    assert load_key(tmp_path / "epoch.json") == ke
    doc = json.loads((tmp_path / "epoch.json").read_text())
    assert doc == {"format": "zkclear-viewkey-v1", "kind": "epoch", "slot": 7, "epoch": 3,
                   "key": "0x" + ke.key.reveal().to_bytes(32, "big").hex()}
    assert set(json.loads((tmp_path / "member.json").read_text())) == {
        "format", "kind", "slot", "key"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch.json", "member.json"]


def test_key_file_write_is_0600_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        MemberKey.generate(1).save(tmp_path / "k.json")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "k.json") == 0o600


def test_key_file_not_overwritten_unless_asked(tmp_path: Path) -> None:
    a, b = MemberKey.generate(1), MemberKey.generate(1)
    a.save(tmp_path / "k.json")
    with pytest.raises(KeyFileError, match="already exists"):
        b.save(tmp_path / "k.json")
    assert load_key(tmp_path / "k.json") == a
    b.save(tmp_path / "k.json", overwrite=True)
    assert load_key(tmp_path / "k.json") == b


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o700, 0o601])
def test_key_file_with_wide_permissions_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k.json"
    MemberKey.generate(1).save(path)
    path.chmod(mode)
    with pytest.raises(KeyFileError, match=rf"permissions {mode:04o}, wider than 0600.*chmod 600"):
        load_key(path)


def test_key_file_narrower_permissions_accepted(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    k = MemberKey.generate(1)
    k.save(path)
    path.chmod(0o400)
    assert load_key(path) == k


def test_key_file_symlink_and_missing_refused(tmp_path: Path) -> None:
    MemberKey.generate(1).save(tmp_path / "k.json")
    (tmp_path / "link.json").symlink_to(tmp_path / "k.json")
    with pytest.raises(KeyFileError, match="symbolic link"):
        load_key(tmp_path / "link.json")
    with pytest.raises(KeyFileError, match="does not exist"):
        load_key(tmp_path / "nope.json")


GOOD_KEY = "0x" + (123456789).to_bytes(32, "big").hex()


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ({"format": "zkclear-viewkey-v2", "kind": "member", "slot": 1, "key": GOOD_KEY},
     "format: must be 'zkclear-viewkey-v1', got 'zkclear-viewkey-v2'"),
    ({"format": "zkclear-viewkey-v1", "kind": "root", "slot": 1, "key": GOOD_KEY},
     "kind: must be 'member' or 'epoch'"),
    ({"format": "zkclear-viewkey-v1", "kind": "member", "key": GOOD_KEY}, "slot: missing"),
    ({"format": "zkclear-viewkey-v1", "kind": "epoch", "slot": 1, "key": GOOD_KEY},
     "epoch: missing"),
    ({"format": "zkclear-viewkey-v1", "kind": "member", "slot": 1, "epoch": 2, "key": GOOD_KEY},
     "epoch: unknown field"),
    ({"format": "zkclear-viewkey-v1", "kind": "member", "slot": -1, "key": GOOD_KEY},
     "slot: must be greater than or equal to 0"),
    ({"format": "zkclear-viewkey-v1", "kind": "member", "slot": "1", "key": GOOD_KEY},
     "slot: must be an integer"),
    ({"format": "zkclear-viewkey-v1", "kind": "member", "slot": 1, "key": GOOD_KEY[:-2]},
     "key: must be 32 bytes"),
    ({"format": "zkclear-viewkey-v1", "kind": "member", "slot": 1, "key": "0x" + "zz" * 32},
     "key: is not hexadecimal"),
    ({"format": "zkclear-viewkey-v1", "kind": "member", "slot": 1,
      "key": "0x" + P.to_bytes(32, "big").hex()}, "key: is not a nonzero canonical"),
    ({"format": "zkclear-viewkey-v1", "kind": "member", "slot": 1, "key": "0x" + "00" * 32},
     "key: is not a nonzero canonical"),
])
def test_malformed_key_files_refused(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "k.json"
    text = content if isinstance(content, str) else json.dumps(content)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    with pytest.raises(KeyFileError, match=message) as info:
        load_key(path)
    assert "123456789" not in str(info.value) and GOOD_KEY[2:] not in str(info.value)


def test_secret_repr_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    value = 0xDEADBEEF1234567
    s = Secret(value)
    texts = [repr(s), str(s), f"{s}", f"{s!r}", f"{s:>40}", "%s" % s]  # noqa: UP031
    assert all("redacted" in t and "deadbeef" not in t.lower() and str(value) not in t
               for t in texts)
    assert s.reveal() == value and s == Secret(value) and s != Secret(value + 1)
    with pytest.raises(TypeError):
        hash(s)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(s)

    k = MemberKey(5, value)
    ke = k.epoch_key(2)
    pair = X25519KeyPair.generate("member")
    caplog.set_level(logging.DEBUG)
    logging.getLogger("zkclear.test").info("keys %s %r %s %s", k, k, ke, pair)
    for text in (repr(k), str(k), repr(ke), str(ke), repr(pair), caplog.text):
        assert "redacted" in text or "fingerprint" in text
        assert str(value) not in text and hex(value)[2:] not in text.lower()
        assert str(ke.key.reveal()) not in text
        assert pair.private.reveal().hex() not in text
    assert repr(k) == "MemberKey(slot=5, key=Secret(<redacted>))"


def test_shares_and_messages_hide_secrets() -> None:
    share = compliance.split(42, 3, 2)[0]
    assert str(share.y) not in repr(share) and "redacted" in repr(share)
    msg = transport.Message(1, 2, 3, b"secret trades")
    assert "secret" not in repr(msg) and "13 bytes" in repr(msg)


# ======================================================================================
# Report cipher
# ======================================================================================


def test_cipher_matches_the_documented_formulas() -> None:
    ke, pt = 987654321, [5, P - 3, 0, 17]
    c = cipher.encrypt(ke, pt)
    ks = [poseidon([ke, j + 1]) for j in range(4)]
    assert c.ct == tuple((p + s) % P for p, s in zip(pt, ks, strict=True))
    assert c.tag == poseidon_chain([ke, 4, *c.ct])
    assert c.commitment() == poseidon_chain([*c.ct, c.tag]) != 0
    assert cipher.decrypt(ke, c, 4) == pt
    assert cipher.keystream(ke, 4) == ks


def test_wire_encoding() -> None:
    c = cipher.encrypt(11, [1, 2, 3])
    data = c.to_bytes()
    assert data[:7] == b"ZKRC\x01\x00\x03" and len(data) == 7 + 32 * 4
    assert data[7:39] == c.ct[0].to_bytes(32, "big") and data[-32:] == c.tag.to_bytes(32, "big")
    assert Ciphertext.from_bytes(data) == c and Ciphertext.from_bytes(data, 3) == c


@pytest.mark.parametrize("level", ["member", "epoch", "escrow", "shamir"])
def test_report_round_trip_at_every_key_level(level: str) -> None:
    member = MemberKey.generate(3)
    rep, epoch = report(4), 12
    c = cipher.encrypt_report(member, epoch, rep)
    assert c.commitment() != 0 and len(c) == 4 + 2
    if level == "member":
        key: MemberKey | EpochKey = member
    elif level == "epoch":
        key = member.epoch_key(epoch)
    else:
        comp = compliance.generate_compliance_key()
        blob = compliance.escrow(member, comp.public_bytes, 3, POOL)
        if level == "shamir":
            comp = compliance.combine_key(compliance.split_key(comp, 4, 3)[1:])
        key = compliance.recover(blob, comp, 3, POOL, expected_vkh=member.vkh)
    assert cipher.decrypt_report(key, epoch, c, 4) == rep
    assert cipher.decrypt_report(key, epoch, c.to_bytes(), 4, slot=3,
                                 commitment=c.commitment()) == rep


def test_encrypting_with_an_epoch_key() -> None:
    member = MemberKey.generate(2)
    rep = report()
    assert cipher.encrypt_report(member.epoch_key(5), 5, rep) == cipher.encrypt_report(
        member, 5, rep)
    with pytest.raises(ValueError, match="epoch key of epoch 5 cannot decrypt epoch 6"):
        cipher.encrypt_report(member.epoch_key(5), 6, rep)


def test_epoch_key_cannot_decrypt_other_epochs() -> None:
    member = MemberKey.generate(2)
    rep = report()
    cts = {e: cipher.encrypt_report(member, e, rep) for e in range(1, 5)}
    assert len({c.ct for c in cts.values()}) == 4  # same report, unrelated ciphertexts
    for e, other in itertools.permutations(cts, 2):
        ke = member.epoch_key(e)
        # Detected from the key's label ...
        with pytest.raises(DecryptionError, match=f"epoch key of epoch {e} cannot decrypt "
                                                  f"epoch {other}") as info:
            cipher.decrypt_report(ke, other, cts[other], 3)
        assert info.value.reason == "epoch"
        # ... and, whatever the label says, the tag fails.
        with pytest.raises(DecryptionError, match="tag does not verify") as info:
            cipher.decrypt_report(EpochKey(2, other, ke.key), other, cts[other], 3)
        assert info.value.reason == "tag"
        with pytest.raises(DecryptionError) as info:
            cipher.decrypt(ke, cts[other], 5)
        assert info.value.reason == "tag"
        assert cipher.decrypt_report(member.epoch_key(other), other, cts[other], 3) == rep


def test_wrong_member_key_fails_the_tag() -> None:
    a, b = MemberKey.generate(1), MemberKey(1, 12345)
    c = cipher.encrypt_report(a, 3, report())
    for key in (b, b.epoch_key(3), MemberKey(1, a.key.reveal() + 1 if a.key.reveal() + 1 < P
                                             else 1)):
        with pytest.raises(DecryptionError, match="tag does not verify") as info:
            cipher.decrypt_report(key, 3, c, 3)
        assert info.value.reason == "tag"
    with pytest.raises(DecryptionError, match="slot 1's, the report is slot 2's") as info:
        cipher.decrypt_report(a, 3, c, 3, slot=2)
    assert info.value.reason == "slot"


def test_bare_numbers_are_ambiguous_for_reports() -> None:
    c = cipher.encrypt_report(MemberKey(1, 5), 1, report())
    with pytest.raises(TypeError, match="MemberKey or an EpochKey"):
        cipher.decrypt_report(5, 1, c, 3)  # type: ignore[arg-type]


def test_any_change_to_the_ciphertext_is_detected_and_changes_the_commitment() -> None:
    member = MemberKey.generate(1)
    c = cipher.encrypt_report(member, 2, report())
    commitments = {c.commitment()}
    n = len(c.ct)
    for j in range(n + 1):
        for delta in (1, P - 1, 2**200):
            ct, tag = list(c.ct), c.tag
            if j < n:
                ct[j] = (ct[j] + delta) % P
            else:
                tag = (tag + delta) % P
            bad = Ciphertext(tuple(ct), tag)
            commitments.add(bad.commitment())
            with pytest.raises(DecryptionError, match="tag does not verify"):
                cipher.decrypt_report(member, 2, bad, 3)
            with pytest.raises(DecryptionError) as info:
                cipher.decrypt_report(member, 2, bad, 3, commitment=c.commitment())
            assert info.value.reason == "commitment"
    assert len(commitments) == 1 + 3 * (n + 1)


def test_truncated_and_malformed_bytes() -> None:
    member = MemberKey.generate(1)
    data = cipher.encrypt_report(member, 2, report()).to_bytes()
    for cut in (0, 3, 6, 7, 8, 38, 39, len(data) - 32, len(data) - 1):
        with pytest.raises(DecryptionError, match="truncated") as info:
            cipher.decrypt_report(member, 2, data[:cut], 3)
        assert info.value.reason == "truncated"
    cases = [
        (data + b"\0", "format", "trailing bytes"),
        (b"ZKRX" + data[4:], "format", "bad magic"),
        (data[:4] + b"\x02" + data[5:], "format", "unsupported ciphertext version 2"),
        (data[:5] + b"\x00\x06" + data[7:], "truncated", "announces 6 elements"),
        (data[:5] + b"\x00\x04" + data[7:-32], "length", "has 4 elements, expected 5"),
        (data[:7] + P.to_bytes(32, "big") + data[39:], "non-canonical", "element 0"),
        (data[:-32] + (2**256 - 1).to_bytes(32, "big"), "non-canonical", "tag"),
    ]
    for blob, reason, message in cases:
        with pytest.raises(DecryptionError, match=message) as info:
            cipher.decrypt_report(member, 2, blob, 3)
        assert info.value.reason == reason


def test_wrong_length_and_non_canonical_objects() -> None:
    c = cipher.encrypt(99, [1, 2, 3, 4, 5])
    with pytest.raises(DecryptionError, match="has 5 elements, expected 4") as info:
        cipher.decrypt(99, c, 4)
    assert info.value.reason == "length"
    with pytest.raises(DecryptionError, match="has 5 elements, expected 6"):
        cipher.decrypt_report(MemberKey(1, 99), 1, c, 4)
    shorter = Ciphertext(c.ct[:-1], c.tag)
    with pytest.raises(DecryptionError) as info:
        cipher.decrypt(99, shorter, 4)
    assert info.value.reason == "tag"
    for bad in (Ciphertext((P, *c.ct[1:]), c.tag), Ciphertext(c.ct, P + 1)):
        with pytest.raises(DecryptionError) as info:
            cipher.decrypt(99, bad, 5)
        assert info.value.reason == "non-canonical"
        with pytest.raises(DecryptionError):
            bad.commitment()


def test_plaintext_that_is_not_a_report() -> None:
    member = MemberKey.generate(1)
    ke = member.epoch_key(1)
    pt = [bounds.DELTA.hi + 1, 0, 0, 0, 0]  # delta[0] = 2^48: outside DELTA
    c = cipher.encrypt(ke, pt)
    with pytest.raises(DecryptionError, match=r"not a valid report: delta\[0\]") as info:
        cipher.decrypt_report(member, 1, c, 3)
    assert info.value.reason == "report"
    assert cipher.decrypt(ke, c, 5) == pt


def test_encrypt_refuses_bad_plaintext() -> None:
    with pytest.raises(ValueError):
        cipher.encrypt(1, [P])
    with pytest.raises(ValueError):
        cipher.encrypt(1, [])
    with pytest.raises(TypeError):
        cipher.encrypt(P, [1])


@SLOW
@given(key=FE, pt=st.lists(FE, min_size=1, max_size=20))
def test_cipher_round_trip_property(key: int, pt: list[int]) -> None:
    c = cipher.encrypt(key, pt)
    assert Ciphertext.from_bytes(c.to_bytes(), len(pt)) == c
    assert cipher.decrypt(key, c, len(pt)) == pt


@SLOW
@given(key=KEYS, epoch=st.integers(0, 2**64 - 1), slot=st.integers(0, 255),
       delta=st.lists(st.integers(bounds.DELTA.lo, bounds.DELTA.hi), min_size=1, max_size=8),
       cash=st.integers(bounds.CASH.lo, bounds.CASH.hi), salt=FE)
def test_report_round_trip_property(key: int, epoch: int, slot: int, delta: list[int],
                                    cash: int, salt: int) -> None:
    member = MemberKey(slot, key)
    rep = Report(tuple(delta), cash, salt)
    data = cipher.encrypt_report(member, epoch, rep).to_bytes()
    for k in (member, member.epoch_key(epoch)):
        assert cipher.decrypt_report(k, epoch, data, len(delta), slot=slot) == rep


@SLOW
@given(key=KEYS, pt=st.lists(FE, min_size=1, max_size=8), j=st.integers(0, 8),
       delta=st.integers(1, P - 1))
def test_tamper_property(key: int, pt: list[int], j: int, delta: int) -> None:
    c = cipher.encrypt(key, pt)
    j %= len(pt) + 1
    ct, tag = list(c.ct), c.tag
    if j < len(pt):
        ct[j] = (ct[j] + delta) % P
    else:
        tag = (tag + delta) % P
    bad = Ciphertext(tuple(ct), tag)
    assert bad.commitment() != c.commitment()
    with pytest.raises(DecryptionError):
        cipher.decrypt(key, bad, len(pt))


# ======================================================================================
# Compliance: escrow and Shamir
# ======================================================================================


def test_primitive_element_and_cached_field() -> None:
    compliance.check_primitive_element(5)
    for g in (4, 25, P - 1):  # squares have order dividing (r-1)/2
        with pytest.raises(ValueError, match="does not generate"):
            compliance.check_primitive_element(g)
    gf = compliance.field()
    assert gf is compliance.field()
    assert int(gf.primitive_element) == 5 and gf.order == P
    a, b = P - 2, 123456789 ** 5
    b %= P
    assert int(gf(a) * gf(b)) == a * b % P and int(gf(a) / gf(b)) == a * pow(b, -1, P) % P


@pytest.mark.parametrize("version", [compliance.ESCROW_V2, compliance.ESCROW_V1])
def test_escrow_round_trip_and_binding(version: int) -> None:
    comp = compliance.generate_compliance_key()
    member = MemberKey.generate(6)
    vkh = member.vkh
    blob = compliance.escrow(member, comp.public_bytes, 6, POOL, version=version)
    assert len(blob) == compliance.ESCROW_SIZE and blob[:5] == b"ZKES" + bytes([version])
    assert compliance.recover(blob, comp, 6, POOL, expected_vkh=vkh) == member
    assert compliance.recover(blob, comp.private, 6, POOL, expected_vkh=vkh) == member
    assert compliance.recover(blob, comp.private.reveal(), 6, POOL.encode(),
                              expected_vkh=vkh) == member
    # Fresh ephemeral each time.
    assert compliance.escrow(member, comp.public_key, 6, POOL, version=version) != blob

    elsewhere = "another slot, pool or vkh" if version == 2 else "another slot or pool"
    with pytest.raises(EscrowError, match=f"for slot 7 .*{elsewhere}"):
        compliance.recover(blob, comp, 7, POOL, expected_vkh=vkh)
    with pytest.raises(EscrowError, match=elsewhere):
        compliance.recover(blob, comp, 6, POOL + "x", expected_vkh=vkh)
    with pytest.raises(EscrowError, match="another compliance key"):
        compliance.recover(blob, compliance.generate_compliance_key(), 6, POOL, expected_vkh=vkh)
    # Version 2 binds the registered vkh (it does not open for another); version 1 opens
    # and then finds that the key is not the committed one.
    with pytest.raises(EscrowError, match=elsewhere if version == 2 else "registered vkh"):
        compliance.recover(blob, comp, 6, POOL, expected_vkh=vkh + 1)


def test_escrow_v2_is_rfc9180_hpke_with_the_documented_info() -> None:
    """docs/protocol.md, "Escrow of K": an independent HPKE open with the info built by hand."""
    from cryptography.hazmat.primitives import hpke

    comp = compliance.generate_compliance_key()
    member = MemberKey.generate(9)
    blob = compliance.escrow(member, comp, 9, POOL)
    assert compliance.ESCROW_VERSION == 2 and blob[4] == 2
    assert blob[5:13] == comp.fingerprint
    pid = POOL.encode()
    info = (b"zkclear-escrow-v2" + len(pid).to_bytes(2, "big") + pid + (9).to_bytes(8, "big")
            + member.vkh.to_bytes(32, "big"))
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    raw = suite.decrypt(blob[13:], comp.private_key, info=info)
    assert int.from_bytes(raw, "big") == member.key.reveal()


def test_escrow_v2_needs_the_registered_vkh_and_checks_the_key_against_it() -> None:
    from cryptography.hazmat.primitives import hpke

    comp = compliance.generate_compliance_key()
    member = MemberKey.generate(2)
    blob = compliance.escrow(member, comp, 2, POOL)
    with pytest.raises(EscrowError, match="bound to the vkh registered with it"):
        compliance.recover(blob, comp, 2, POOL)
    # A member that binds its registered vkh but seals another key is caught after opening.
    other = MemberKey.generate(2)
    pid = POOL.encode()
    info = (b"zkclear-escrow-v2" + len(pid).to_bytes(2, "big") + pid + (2).to_bytes(8, "big")
            + member.vkh.to_bytes(32, "big"))
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    sealed = suite.encrypt(other.key.reveal().to_bytes(32, "big"), comp.public_key, info=info)
    forged = b"ZKES\x02" + comp.fingerprint + sealed
    with pytest.raises(EscrowError, match="registered vkh: the member escrowed another key"):
        compliance.recover(forged, comp, 2, POOL, expected_vkh=member.vkh)


def test_escrow_v1_made_before_hpke_still_opens() -> None:
    """A version-1 blob made by the code before HPKE (tests/vectors/escrow_v1.json)."""
    v = json.loads((Path(__file__).parent.parent / "vectors" / "escrow_v1.json").read_text())
    comp = X25519KeyPair(bytes.fromhex(v["compliance_private"][2:]), "compliance")
    assert comp.public_bytes.hex() == v["compliance_public"][2:]
    blob = bytes.fromhex(v["escrow"][2:])
    assert blob[:5] == b"ZKES\x01"
    key = compliance.recover(blob, comp, v["slot"], v["pool_id"], expected_vkh=int(v["vkh"]))
    assert key == MemberKey(v["slot"], int(v["view_key"], 16))
    # Version 1 does not bind the vkh: it opens without it, too.
    assert compliance.recover(blob, comp, v["slot"], v["pool_id"]) == key
    with pytest.raises(EscrowError, match="another slot or pool"):
        compliance.recover(blob, comp, v["slot"] + 1, v["pool_id"], expected_vkh=int(v["vkh"]))


@pytest.mark.parametrize("version", [compliance.ESCROW_V2, compliance.ESCROW_V1])
def test_escrow_tampered_or_malformed(version: int) -> None:
    comp = compliance.generate_compliance_key()
    member = MemberKey.generate(1)
    vkh = member.vkh
    blob = compliance.escrow(member, comp, 1, POOL, version=version)
    for i in range(13, len(blob)):  # every byte after the fingerprint
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises(EscrowError, match="tampered"):
            compliance.recover(bytes(bad), comp, 1, POOL, expected_vkh=vkh)
    with pytest.raises(EscrowError, match="truncated"):
        compliance.recover(blob[:-1], comp, 1, POOL, expected_vkh=vkh)
    with pytest.raises(EscrowError, match="bad magic"):
        compliance.recover(b"XXXX" + blob[4:], comp, 1, POOL, expected_vkh=vkh)
    with pytest.raises(EscrowError, match="version 9"):
        compliance.recover(blob[:4] + b"\x09" + blob[5:], comp, 1, POOL, expected_vkh=vkh)
    # The version byte decides the format: the other version's reading does not open it.
    other = bytes([3 - version])
    with pytest.raises(EscrowError, match="tampered"):
        compliance.recover(blob[:4] + other + blob[5:], comp, 1, POOL, expected_vkh=vkh)
    with pytest.raises(ValueError, match="slot 1's, not slot 2's"):
        compliance.escrow(MemberKey.generate(1), comp, 2, POOL, version=version)
    with pytest.raises(ValueError, match="escrow version"):
        compliance.escrow(member, comp, 1, POOL, version=3)


def test_compliance_key_file(tmp_path: Path) -> None:
    comp = compliance.generate_compliance_key()
    comp.save(tmp_path / "comp.json")
    assert mode_of(tmp_path / "comp.json") == 0o600
    back = compliance.load_compliance_key(tmp_path / "comp.json")
    assert back.private == comp.private and back.public_bytes == comp.public_bytes
    (tmp_path / "comp.json").chmod(0o644)
    with pytest.raises(KeyFileError, match="wider than 0600"):
        compliance.load_compliance_key(tmp_path / "comp.json")
    X25519KeyPair.generate("member").save(tmp_path / "member.json")
    with pytest.raises(KeyFileError, match="'member' key, not a 'compliance' key"):
        compliance.load_compliance_key(tmp_path / "member.json")
    doc = read_json_secret(tmp_path / "member.json")
    doc["public"] = "0x" + X25519KeyPair.generate("member").public_bytes.hex()
    fd = os.open(tmp_path / "mixed.json", os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)
    with pytest.raises(KeyFileError, match="does not belong"):
        X25519KeyPair.load(tmp_path / "mixed.json")


@pytest.mark.parametrize(("n", "t"), [(1, 1), (3, 1), (3, 2), (5, 3), (5, 5), (7, 4)])
def test_shamir_every_subset(n: int, t: int) -> None:
    secret = P - 1 - 2**100
    shares = compliance.split(secret, n, t)
    assert [s.x for s in shares] == list(range(1, n + 1))
    for k in range(t, n + 1):
        for subset in itertools.combinations(shares, k):
            assert compliance.combine(list(subset)) == secret
            assert compliance.combine(list(reversed(subset))) == secret
    too_few = (f"{t - 1} share\\(s\\) given, the threshold is {t}" if t > 1
               else "no shares given")
    for subset in itertools.combinations(shares, t - 1):
        with pytest.raises(ShareError, match=too_few):
            compliance.combine(list(subset))


def test_shamir_refusals() -> None:
    shares = compliance.split(42, 5, 3)
    with pytest.raises(ShareError, match="duplicate share x = 2"):
        compliance.combine([shares[0], shares[1], shares[1]])
    with pytest.raises(ShareError, match="no shares"):
        compliance.combine([])
    other = compliance.split(43, 5, 2)
    with pytest.raises(ShareError, match="disagree on the threshold"):
        compliance.combine([*shares[:3], other[3]])
    forged = compliance.Share(shares[3].x, (shares[3].y + 1) % P, 3)
    with pytest.raises(ShareError, match="x = 4 do not lie on the polynomial"):
        compliance.combine([*shares[:3], forged])
    with pytest.raises(ValueError):
        compliance.split(42, 3, 4)
    with pytest.raises(ValueError):
        compliance.split(P, 3, 2)


def test_shamir_shares_are_randomised() -> None:
    a, b = compliance.split(7, 3, 2), compliance.split(7, 3, 2)
    assert [s.y for s in a] != [s.y for s in b]


@SLOW
@given(secret=FE, n=st.integers(1, 8), data=st.data())
def test_shamir_property(secret: int, n: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(1, n))
    shares = compliance.split(secret, n, t)
    subset = data.draw(st.permutations(shares)).copy()[: data.draw(st.integers(t, n))]
    assert compliance.combine(subset) == secret


def test_compliance_key_shares(tmp_path: Path) -> None:
    comp = compliance.generate_compliance_key()
    shares = compliance.split_key(comp, 5, 3)
    assert all(s.key_fingerprint == comp.fingerprint for s in shares)
    for subset in itertools.combinations(shares, 3):
        assert compliance.combine_key(list(subset)).private == comp.private
    assert compliance.combine_key(shares).private == comp.private
    with pytest.raises(ShareError, match="threshold is 3"):
        compliance.combine_key(shares[:2])
    with pytest.raises(ShareError, match="duplicate"):
        compliance.combine_key([shares[0], shares[0], shares[1]])
    other = compliance.split_key(compliance.generate_compliance_key(), 5, 3)
    with pytest.raises(ShareError, match="different compliance keys"):
        compliance.combine_key([*shares[:2], other[2]])
    corrupt = KeyShare(shares[2].x, shares[2].y_hi, (shares[2].y_lo + 1) % P, 3,
                       shares[2].key_fingerprint)
    with pytest.raises(ShareError, match="corrupt"):
        compliance.combine_key([shares[0], shares[1], corrupt])

    # Share files: 0600, round trip, refused when readable by others.
    for i, s in enumerate(shares):
        s.save(tmp_path / f"officer{i}.json")
        assert mode_of(tmp_path / f"officer{i}.json") == 0o600
    loaded = [KeyShare.load(tmp_path / f"officer{i}.json") for i in (4, 0, 2)]
    assert compliance.combine_key(loaded).private == comp.private
    (tmp_path / "officer1.json").chmod(0o640)
    with pytest.raises(KeyFileError, match="wider than 0600"):
        KeyShare.load(tmp_path / "officer1.json")


# ======================================================================================
# Transport
# ======================================================================================


@pytest.fixture
def parties(tmp_path: Path) -> types.SimpleNamespace:
    op = X25519KeyPair.generate("operator")
    members = {s: X25519KeyPair.generate("member") for s in (1, 2, 3)}
    guard = ReplayGuard(tmp_path / "replay.sqlite")
    ns = types.SimpleNamespace(
        op=op, members=members, guard_path=tmp_path / "replay.sqlite",
        receiver=TransportReceiver(op, {s: k.public_bytes for s, k in members.items()}, POOL,
                                   guard),
        senders={s: TransportSender(k, s, op.public_bytes, POOL) for s, k in members.items()},
    )
    yield ns
    guard.close()


def test_transport_round_trip(parties: types.SimpleNamespace) -> None:
    payload = json.dumps([{"trade_id": "t1", "size": 5, "price": 1000}]).encode()
    msg = parties.receiver.open(parties.senders[2].seal(payload, 7, 1), expected_epoch=7)
    assert (msg.slot, msg.epoch, msg.counter, msg.payload) == (2, 7, 1, payload)
    big = os.urandom(1 << 20)
    assert parties.receiver.open(parties.senders[1].seal(big, 7, 10)).payload == big
    assert parties.receiver.open(parties.senders[1].seal(b"", 8, 11)).payload == b""


def test_transport_tampering(parties: types.SimpleNamespace) -> None:
    data = parties.senders[1].seal(b"trade list", 3, 5)
    head = 6 + len(POOL) + 24  # start of the fingerprints
    for i in range(6 + len(POOL), len(data)):
        if head <= i < head + 8:
            continue  # the recipient fingerprint: WrongRecipientError, below
        bad = bytearray(data)
        bad[i] ^= 0x40
        with pytest.raises(TransportError) as info:
            parties.receiver.open(bytes(bad))
        # A flipped slot byte may name an unregistered slot; everything else is tampering.
        assert isinstance(info.value, TamperedError | UnknownMemberError), i
    for cut in (len(data) - 1, len(data) - 17, 40, 5):
        with pytest.raises(TransportError):
            parties.receiver.open(data[:cut])
    # None of that burnt the counter: the genuine message is still accepted once.
    assert parties.receiver.open(data).counter == 5


def test_transport_wrong_recipient_and_unknown_member(parties: types.SimpleNamespace) -> None:
    other_op = X25519KeyPair.generate("operator")
    to_other = TransportSender(parties.members[1], 1, other_op.public_bytes, POOL)
    with pytest.raises(WrongRecipientError, match="for the operator key"):
        parties.receiver.open(to_other.seal(b"x", 1, 1))
    other_pool = TransportSender(parties.members[1], 1, parties.op.public_bytes, "other pool")
    with pytest.raises(WrongRecipientError, match="is for pool b'other pool'"):
        parties.receiver.open(other_pool.seal(b"x", 1, 1))
    stranger = TransportSender(X25519KeyPair.generate("member"), 9, parties.op.public_bytes,
                               POOL)
    with pytest.raises(UnknownMemberError, match="slot 9"):
        parties.receiver.open(stranger.seal(b"x", 1, 1))
    with pytest.raises(TransportError, match="bad magic"):
        parties.receiver.open(b"nonsense")


def test_transport_impersonation(parties: types.SimpleNamespace) -> None:
    # Member 2 claims to be slot 1 with its own key: the fingerprint gives it away ...
    liar = TransportSender(parties.members[2], 1, parties.op.public_bytes, POOL)
    with pytest.raises(TamperedError, match="not the slot's registered key"):
        parties.receiver.open(liar.seal(b"x", 1, 1))
    # ... and copying slot 1's public key and fingerprint does not help: the static DH fails.
    m1, m2 = parties.members[1], parties.members[2]
    fake = types.SimpleNamespace(private_key=m2.private_key, public_bytes=m1.public_bytes,
                                 fingerprint=m1.fingerprint)
    forger = TransportSender(fake, 1, parties.op.public_bytes, POOL)  # type: ignore[arg-type]
    with pytest.raises(TamperedError, match="does not authenticate"):
        parties.receiver.open(forger.seal(b"x", 1, 1))
    assert parties.guard_path.exists()
    assert parties.receiver.open(parties.senders[1].seal(b"ok", 1, 1)).payload == b"ok"


def test_transport_replay_survives_restart(parties: types.SimpleNamespace) -> None:
    s1, s2 = parties.senders[1], parties.senders[2]
    first, second = s1.seal(b"a", 1, 100), s1.seal(b"b", 1, 101)
    parties.receiver.open(first)
    parties.receiver.open(second)
    with pytest.raises(ReplayError, match="counter 101 is not above the last accepted, 101"):
        parties.receiver.open(second)
    with pytest.raises(ReplayError, match="counter 100"):
        parties.receiver.open(first)
    assert parties.receiver.open(s2.seal(b"c", 1, 100)).slot == 2  # counters are per member

    # A restarted operator (new guard on the same file) still refuses them.
    parties.receiver.guard.close()
    with ReplayGuard(parties.guard_path) as guard:
        restarted = TransportReceiver(parties.op, {s: k.public_bytes
                                                   for s, k in parties.members.items()},
                                      POOL, guard)
        for old in (first, second):
            with pytest.raises(ReplayError):
                restarted.open(old)
        assert guard.last(POOL, 1) == 101 and guard.last(POOL, 3) == 0
        assert restarted.open(s1.seal(b"d", 2, 102)).payload == b"d"
        # A second process on the same file cannot accept the same counter again.
        with ReplayGuard(parties.guard_path) as twin:
            with pytest.raises(ReplayError):
                twin.accept(POOL, 1, 102)
            twin.accept(POOL, 1, 103)
        with pytest.raises(ReplayError):
            guard.accept(POOL, 1, 103)


def test_transport_epoch_check_and_counter_bounds(parties: types.SimpleNamespace) -> None:
    with pytest.raises(TransportError, match="is for epoch 4, the operator is collecting epoch 5"):
        parties.receiver.open(parties.senders[3].seal(b"x", 4, 1), expected_epoch=5)
    for bad in (0, -1, 2**63):
        with pytest.raises(ValueError):
            parties.senders[3].seal(b"x", 4, bad)

"""The epoch proof's public signals: what each carries and how values are packed.

Twenty-six values are public (docs/protocol.md, "Public signals"); the circuit exposes
them as thirteen field elements, packing the small ones so that the on-chain verifier
pays for fewer public inputs (each costs an elliptic-curve multiplication, ~6.6k gas):

    epochInfo = epoch + nEvents * 2^64 + totalCollateral * 2^80
    exitSum   = sum_j D[j] * rho^j mod r
    fundInfo  = dfScale + dfScaleNext * 2^16 + cover2Met * 2^32 + rho * 2^33
    layersA   = fundOwn + fundHouse * 2^126,  layersB = fundShared + fundHaircut * 2^126
    fundTotals = fundBase + fundGains * 2^126   (the default fund's waterfall)
    auction   = awarded + bidNeg*2 + winner*4 + bidAbs*2^10 + houseFlat*2^122 + lotMM*2^123

with ``epoch < 2^64``, ``nEvents < 2^16``, ``0 <= totalCollateral < 2^128`` and
``rho < 2^100`` (the circuit range-checks all of them, so each word has one
decomposition). ``D`` is the epoch's exit data (:func:`exit_data`: the new leaf hashes,
the house's collateral, then the liquidated and the granted mask in words of 128 bits),
published in ``submitEpoch`` calldata; ``rho`` is derived from it by the contract
(:func:`exit_challenge`), which also recomputes ``exitSum``. The masks are in ``D``, not
in a public signal, so that a pool may have up to 256 slots (a 256-bit mask is not a
field element) and the verifier pays for one input less.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from eth_abi import encode
from eth_utils import keccak

from zkclear import bounds
from zkclear.errors import ZkclearError
from zkclear.field import P

from . import auction

#: The circuit's public signals, in order.
PUBLIC_NAMES = ("oldRoot", "newRoot", "epochInfo", "paramsHash", "pricesPrevHash",
                "pricesHash", "eventsAcc", "exitSum", "fundInfo", "layersA",
                "layersB", "fundTotals", "auction")
#: The values they carry.
#: The default fund's values (docs/protocol.md, "Default fund").
FUND_VALUES = ("dfScale", "dfScaleNext", "cover2Met", "fundOwn", "fundHouse", "fundShared",
               "fundHaircut", "fundBase", "fundGains")
#: The auction's values (docs/protocol.md, "The auction of the house's lot").
AUCTION_VALUES = ("awarded", "bidNeg", "winner", "bidAbs", "houseFlat", "lotMM")
PUBLIC_VALUES = ("oldRoot", "newRoot", "epoch", "paramsHash", "pricesPrevHash", "pricesHash",
                 "eventsAcc", "nEvents", "totalCollateral",
                 "rho", "exitSum", *FUND_VALUES, *AUCTION_VALUES)
#: The default fund's words (docs/protocol.md, "Default fund, the loss waterfall and
#: Cover-2"): fundInfo = dfScale + dfScaleNext * 2^16 + cover2Met * 2^32, and three words
#: of two amounts each, the second shifted by LAYER_BITS.
#: Values the circuit computes itself (it checks the words against them), so they are
#: not among its private inputs (every other packed value is).
COMPUTED = ("dfScaleNext", "cover2Met", "fundOwn", "fundHouse", "fundShared", "fundHaircut",
            "fundBase", "fundGains", "houseFlat", "lotMM")
FUND_PAIRS = {"layersA": ("fundOwn", "fundHouse"), "layersB": ("fundShared", "fundHaircut"),
              "fundTotals": ("fundBase", "fundGains")}

_EVENTS_SHIFT = bounds.EPOCH_BITS
_TOTAL_SHIFT = bounds.EPOCH_BITS + bounds.N_EVENTS_BITS
_RHO_SHIFT = 2 * bounds.SCALE_BITS + 1


class PackingError(ZkclearError, ValueError):
    """A value does not fit its field of a packed public signal."""


def _fits(name: str, value: int, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise PackingError(f"{name} = {value!r} does not fit in {bits} bits")
    return value


def epoch_info(epoch: int, n_events: int, total_collateral: int) -> int:
    return (_fits("epoch", epoch, bounds.EPOCH_BITS)
            + (_fits("nEvents", n_events, bounds.N_EVENTS_BITS) << _EVENTS_SHIFT)
            + (_fits("totalCollateral", total_collateral, bounds.TOTAL_BITS) << _TOTAL_SHIFT))


def fund_info(df_scale: int, df_scale_next: int, cover2_met: int, rho: int) -> int:
    s = bounds.SCALE_BITS
    return (_fits("dfScale", df_scale, s) + (_fits("dfScaleNext", df_scale_next, s) << s)
            + (_fits("cover2Met", cover2_met, 1) << (2 * s))
            + (_fits("rho", rho, bounds.RHO_BITS) << _RHO_SHIFT))


def mask_words(mask: int, n_slots: int, word_bits: int = bounds.MASK_WORD_BITS) -> list[int]:
    """A slot mask as its exit-data words (``word_bits`` bits each, low slots first;
    another width than ``MASK_WORD_BITS`` only for tests of the multi-word layout)."""
    _fits("slot mask", mask, n_slots)
    return [(mask >> (word_bits * k)) & ((1 << word_bits) - 1)
            for k in range(bounds.mask_words(n_slots, word_bits))]


def exit_data(state_data: Sequence[int], liquidated_mask: int, granted_mask: int,
              n_slots: int, word_bits: int = bounds.MASK_WORD_BITS) -> list[int]:
    """``D``: the state's part (``n_slots`` leaf hashes and the house's collateral) and the
    liquidated and granted masks' words."""
    if len(state_data) != n_slots + 1:
        raise PackingError(f"{len(state_data)} words of state exit data, expected {n_slots + 1}")
    return [*state_data, *mask_words(liquidated_mask, n_slots, word_bits),
            *mask_words(granted_mask, n_slots, word_bits)]


def exit_masks(exit_data: Sequence[int], n_slots: int) -> tuple[int, int]:
    """(liquidatedMask, grantedMask) of an epoch's exit data (inverse of :func:`exit_data`)."""
    k, want = bounds.mask_words(n_slots), bounds.exit_data_length(n_slots)
    if len(exit_data) != want:
        raise PackingError(f"{len(exit_data)} words of exit data, expected {want}")
    w = bounds.MASK_WORD_BITS
    words = [int(x) for x in exit_data[n_slots + 1:]]
    liquidated = sum(x << (w * j) for j, x in enumerate(words[:k]))
    granted = sum(x << (w * j) for j, x in enumerate(words[k:]))
    return _fits("liquidatedMask", liquidated, n_slots), _fits("grantedMask", granted, n_slots)


def pair(names: tuple[str, str], values: Mapping[str, int]) -> int:
    lo, hi = names
    return (_fits(lo, values[lo], bounds.LAYER_BITS)
            + (_fits(hi, values[hi], bounds.LAYER_BITS) << bounds.LAYER_BITS))


def exit_challenge(epoch: int, new_root: int, exit_data: Sequence[int]) -> int:
    """``rho = keccak256(abi.encode(epoch, newRoot, D)) >> (256 - RHO_BITS)``, exactly as
    ``ClearingHouse._checkExitData`` derives it (``D`` a dynamic ``uint256[]``)."""
    digest = keccak(encode(["uint256", "uint256", "uint256[]"],
                           [epoch, new_root, [int(x) for x in exit_data]]))
    return int.from_bytes(digest, "big") >> (256 - bounds.RHO_BITS)


def exit_sum(exit_data: Sequence[int], rho: int) -> int:
    """``sum_j D[j] * rho^j mod r`` (Horner, from the top)."""
    acc = 0
    for d in reversed(exit_data):
        acc = (acc * rho + d) % P
    return acc


def pack(values: Mapping[str, int]) -> list[int]:
    """The public signals (circuit order) of the named values (:data:`PUBLIC_VALUES`)."""
    missing = set(PUBLIC_VALUES) - set(values)
    if missing:
        raise PackingError(f"missing public values: {sorted(missing)}")
    words = {
        **{k: values[k] % P for k in ("oldRoot", "newRoot", "paramsHash", "pricesPrevHash",
                                       "pricesHash", "eventsAcc")},
        "epochInfo": epoch_info(values["epoch"], values["nEvents"], values["totalCollateral"]),
        "exitSum": values["exitSum"] % P,
        "fundInfo": fund_info(values["dfScale"], values["dfScaleNext"], values["cover2Met"],
                              values["rho"]),
        **{w: pair(names, values) for w, names in FUND_PAIRS.items()},
        "auction": auction_word(values),
    }
    return [words[k] for k in PUBLIC_NAMES]


def unpack(public: Sequence[int]) -> dict[str, int]:
    """The named values of public signals (inverse of :func:`pack` on its range)."""
    if len(public) != len(PUBLIC_NAMES):
        raise PackingError(f"{len(public)} public signals, expected {len(PUBLIC_NAMES)}")
    w = dict(zip(PUBLIC_NAMES, (int(x) for x in public), strict=True))
    info = w.pop("epochInfo")
    w["epoch"] = info & ((1 << bounds.EPOCH_BITS) - 1)
    w["nEvents"] = (info >> _EVENTS_SHIFT) & ((1 << bounds.N_EVENTS_BITS) - 1)
    w["totalCollateral"] = info >> _TOTAL_SHIFT
    fi, sb = w.pop("fundInfo"), bounds.SCALE_BITS
    w["dfScale"], w["dfScaleNext"] = fi & ((1 << sb) - 1), (fi >> sb) & ((1 << sb) - 1)
    w["cover2Met"] = (fi >> (2 * sb)) & 1
    w["rho"] = fi >> _RHO_SHIFT
    mask = (1 << bounds.LAYER_BITS) - 1
    for word, (lo, hi) in FUND_PAIRS.items():
        v = w.pop(word)
        w[lo], w[hi] = v & mask, v >> bounds.LAYER_BITS
    award, flat, w["lotMM"] = auction.unpack_auction(w.pop("auction"))
    w["houseFlat"] = int(flat)
    w |= auction.award_values(award)
    return {k: w[k] for k in PUBLIC_VALUES}


def auction_word(values: Mapping[str, int]) -> int:
    """The ``auction`` word of the named values (:mod:`.auction`'s layout)."""
    award = (auction.Award(values["winner"], -values["bidAbs"] if values["bidNeg"]
                           else values["bidAbs"]) if values["awarded"] else None)
    return auction.auction_word(award, bool(_fits("houseFlat", values["houseFlat"], 1)),
                                values["lotMM"])

"""Choosing the settings an eval confirms on held-out windows (``neurosim eval --confirm-seed``) and
the target they are judged against.

The choice is made on the first window set; the held-out windows are drawn with another seed from
the slots the first draw did not take, so no window is shared, and the chosen settings are scored
again on them in the same command (:func:`neurosim.run.eval.evaluate`). A later command confirms
an earlier eval with ``--exclude-windows``: its windows are drawn from the slots the earlier eval's
did not take (:func:`excluded_slots`).
"""

from __future__ import annotations

import json
from pathlib import Path

from neurosim import NeurosimError
from neurosim.run.metrics import common_sparsity, mixed_windows

__all__ = ["TARGET_PPL", "TARGET_SPARSITY", "target_sparsity", "target_met", "CHOICE_RULE", "chosen_settings",
           "confirmation_windows", "window_spans", "full_settings", "excluded_slots", "eval_result_file"]

#: the target: perplexity-change interval entirely below +1% at >= 65% fixed-window sparsity
#: (on the common basis where the windows differ between projections)
TARGET_PPL, TARGET_SPARSITY = 0.01, 0.65


def full_settings(doc: dict) -> list[dict]:
    """The settings of an eval result that quantize every projection."""
    return [s for s in doc["settings"] if s["quantizer"]["projections"] == ["*"]]


def target_met(doc: dict) -> list[str]:
    """Labels of the settings (quantizing every projection) that meet the target."""
    return [s["label"] for s in full_settings(doc) if s["ppl_change_ci"][1] < TARGET_PPL
            and (target_sparsity(s) or 0) >= TARGET_SPARSITY]


def target_sparsity(s: dict) -> float | None:
    """The sparsity the target is judged on: the fixed window's, or on the common basis where the
    windows differ between projections (a longer window's extra cells would count as silent)."""
    t = s["totals"]
    if t["sparsity_fixed"] is None:
        return None
    return common_sparsity(t, s["quantizer"]["coding"])[0] if mixed_windows(t) else t["sparsity_fixed"]


#: how ``--confirm-seed`` picks the settings it confirms (:func:`chosen_settings`)
CHOICE_RULE = ("the first setting (the reference of the paired intervals), every setting that meets the target "
               "and every setting on the frontier: no other setting has both a lower upper bound of the "
               "perplexity-change interval and fewer MAC-weighted spikes per activation (settings that "
               "quantize every projection, when there are any)")


def chosen_settings(result: dict) -> list[str]:
    """Labels of the settings a held-out confirmation scores again, in the result's order
    (:data:`CHOICE_RULE`)."""
    ss = result["settings"]
    full = full_settings(result) or ss
    def cost(s: dict) -> float:
        return s["totals"].get("mac_weighted_spikes_per_activation") or s["totals"]["spikes_per_activation"]
    front = {s["label"] for s in full
             if not any(cost(o) <= cost(s) and o["ppl_change_ci"][1] <= s["ppl_change_ci"][1]
                        and (cost(o) < cost(s) or o["ppl_change_ci"][1] < s["ppl_change_ci"][1]) for o in full)}
    keep = {ss[0]["label"]} | front | set(target_met(result))
    return [s["label"] for s in ss if s["label"] in keep]


def window_spans(wins) -> set:
    """The (source, token) positions the windows cover."""
    return {(w.source, int(w.offset) + i) for w in wins for i in range(len(w.ids))}


def confirmation_windows(cfg, ckpt, texts, wins, calib, excluded=frozenset()):
    """The held-out windows of ``--confirm-seed`` (None without it): drawn with that seed from the
    slots no selection window uses (nor ``excluded``, those of ``--exclude-windows``), so no window is
    shared; calibration texts checked against them."""
    from neurosim.run.windows import check_disjoint, select_windows

    if cfg.confirm_seed is None:
        return None
    held = select_windows(ckpt.tokenizer, texts, cfg.windows, cfg.window_tokens, cfg.confirm_seed,
                          exclude={(w.source, w.offset) for w in wins} | set(excluded))
    if window_spans(held) & window_spans(wins):  # cannot happen: slots never overlap; checked all the same
        raise NeurosimError("the confirmation windows overlap the selection windows")
    for src, ids in calib.values():
        check_disjoint(ids, held, src, against="the confirmation windows")
    return held


def eval_result_file(path: str) -> Path:
    """The eval.json that ``--exclude-windows`` names (the file, or the folder holding it), or a one-line error."""
    p = Path(path)
    f = p / "eval.json" if p.is_dir() else p
    if not f.is_file():
        raise NeurosimError(f"exclude_windows: no eval result at {path} (an eval.json or its folder)")
    return f


def excluded_slots(path: str, window_tokens: int, sources: set[str]) -> set[tuple[str, int]]:
    """The (source, token offset) slots of an earlier eval's windows (its eval.json, its folder or a
    results file made from it), which a held-out draw leaves out. One-line errors: no such result,
    no window selection in it, windows of another length, or none from this eval's texts."""
    f = eval_result_file(path)
    try:
        doc = json.loads(f.read_text())
        sel = doc["selection"]
        slots = {(str(w["source"]), int(w["offset"])) for w in sel}
        lengths = {int(w["tokens"]) for w in sel}
    except (ValueError, KeyError, TypeError) as exc:
        raise NeurosimError(f"exclude_windows: {f} is not an eval result with a window selection ({exc})") from None
    if lengths - {window_tokens}:
        raise NeurosimError(f"exclude_windows: {f} has windows of {sorted(lengths)[0]} tokens, this eval "
                            f"{window_tokens}: give the same --window-tokens so the slots line up")
    if not {src for src, _ in slots} & sources:
        raise NeurosimError(f"exclude_windows: none of the windows of {f} come from this eval's texts "
                            "(another corpus?)")
    return slots

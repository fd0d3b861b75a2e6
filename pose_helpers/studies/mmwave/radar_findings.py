"""The poster's findings, each with a verdict from a stated rule and measured noise.

The poster states three findings about the components and two about its proposed models
(``../shared/seeds/000_*.txt``, "04 - Results" and "05 - Conclusion"); the numbers of the
last one come from ``seed_table('mmwave_findings')``. :func:`findings_table` measures each on
every data set and gives it one of the book's verdicts (:mod:`pose_helpers.chapters.verdicts`):

- accuracy noise: the standard error of a difference of two seed-averaged test MAEs
  (:func:`verdicts.difference_noise` with the configurations' mean seed standard deviation);
  an effect on accuracy is "clear" beyond two such errors;
- latency noise: the mean 10th-90th percentile width of the timing rounds' medians
  (PyTorch, batch 1, one thread; :func:`runtime_latency`);
- the poster's printed precision (half a unit of the last digit) for its two numbers.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from pose_helpers.chapters import verdicts
from pose_helpers.studies.mmwave.radar_tables import COMPONENTS, component_effects

__all__ = ["FINDING_COLUMNS", "findings_table", "latency_noise_ms"]

#: Columns of ``book/results/mmwave/findings.csv``.
FINDING_COLUMNS = ("finding", "poster", "ours_mars", "ours_sim", "verdict", "rule", "noise")


def latency_noise_ms(latencies: pd.DataFrame, runtime: str = "pytorch", batch: int = 1) -> float:
    """The timing noise of one runtime and batch: the mean p10-p90 width of the rounds'
    medians over the timed configurations (the floor excluded)."""
    part = latencies[(latencies["runtime"] == runtime) & (latencies["batch"] == batch)]
    part = part[part["config"] != "floor"]
    return float((part["latency_p90_ms"] - part["latency_p10_ms"]).mean())


def _latency(latencies: pd.DataFrame, config: str, runtime: str = "pytorch") -> float:
    row = latencies[
        (latencies["config"] == config)
        & (latencies["runtime"] == runtime)
        & (latencies["batch"] == 1)
    ]
    return float(row["latency_ms"].iloc[0]) if len(row) else math.nan


def _component_ranges(latencies: pd.DataFrame, part: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per component: latency range (runtime table) and MAE range with its seed noise."""
    timed = part.drop(columns=[c for c in ("latency_ms",) if c in part]).assign(
        latency_ms=[_latency(latencies, c) for c in part["config"]]
    )
    effects = component_effects(timed).set_index("component")
    out = {}
    for short, label in COMPONENTS.items():
        if label in effects.index:
            row = effects.loc[label]
            group = part[part["component"].isin(["baseline", short])]
            out[short] = {
                "latency": float(row["latency_range_ms"]),
                "mae": float(row["mae_range_cm"]),
                "noise": _mae_noise(group),
            }
    return out


def _mae_noise(rows: pd.DataFrame) -> float:
    """Standard error of a difference of two seed means, with the rows' mean seed sd."""
    seeds = int(rows["seeds"].min()) if len(rows) else 0
    if seeds < 2:
        return math.nan
    sd = float(rows["mae_sd_cm"].mean())
    return verdicts.difference_noise(sd, seeds, sd, seeds)


def _measure(part: pd.DataFrame, latencies: pd.DataFrame, paper: dict[str, Any]) -> list[dict]:
    """Every finding on one data set: ``ours`` (text), ``margin``, ``noise``, ``verdict``."""
    nan = math.nan
    lat_noise = latency_noise_ms(latencies)
    comp = _component_ranges(latencies, part)
    get = comp.get
    by = part.set_index("config")

    def ranges(key: str) -> dict[str, float]:
        return {c: v[key] for c, v in comp.items()}

    def others(short: str, key: str, fn: Any) -> float:
        rest = [v[key] for c, v in comp.items() if c != short]
        return fn(rest) if rest and short in comp else nan

    def row(finding: str, poster: str, ours: str, margin: float, noise: float, rule: str) -> dict:
        return {
            "finding": finding,
            "poster": poster,
            "ours": ours,
            "margin": margin,
            "noise": noise,
            "verdict": verdicts.margin_verdict(margin, noise),
            "rule": rule,
        }

    lat = ranges("latency")
    mae = ranges("mae")
    lat_text = ", ".join(f"{c} {v:.3f}" for c, v in lat.items()) + " ms"
    mae_text = ", ".join(f"{c} {v:.2f}" for c, v in mae.items()) + " cm"
    rows = [
        row(
            "feature extractor moves latency the most",
            "Feature extraction seems to impact latency ... the most",
            f"latency range over scales: {lat_text}",
            lat.get("feat", nan) - others("feat", "latency", max),
            lat_noise,
            "feat's latency range minus the larger of the others' > timing noise",
        ),
        row(
            "feature extractor moves accuracy the most",
            "Feature extraction seems to impact ... accuracy the most",
            f"test MAE range over scales: {mae_text}",
            mae.get("feat", nan) - others("feat", "mae", max),
            (get("feat") or {}).get("noise", nan),
            "feat's MAE range minus the larger of the others' > seed noise (SE of a difference)",
        ),
        row(
            "recurrent layer has no clear relation to accuracy",
            "Recurrent layer has no clear relation to accuracy",
            f"rec's MAE range {mae.get('rec', nan):.2f} cm",
            2 * (get("rec") or {}).get("noise", nan) - mae.get("rec", nan),
            (get("rec") or {}).get("noise", nan),
            "rec's MAE range below 2 seed noises ('clear' = beyond two standard errors)",
        ),
        row(
            "recurrent layer costs latency",
            "... but costs latency",
            f"rec's latency range {lat.get('rec', nan):.3f} ms",
            lat.get("rec", nan),
            lat_noise,
            "rec's latency range > timing noise",
        ),
        row(
            "regression head moves latency the least",
            "Extraction head minimally impacts ... latency",
            f"latency range over scales: {lat_text}",
            others("head", "latency", min) - lat.get("head", nan),
            lat_noise,
            "the smaller of the others' latency ranges minus head's > timing noise",
        ),
        row(
            "regression head moves accuracy little",
            "Extraction head minimally impacts ... accuracy",
            f"head's MAE range {mae.get('head', nan):.2f} cm",
            2 * (get("head") or {}).get("noise", nan) - mae.get("head", nan),
            (get("head") or {}).get("noise", nan),
            "head's MAE range below 2 seed noises",
        ),
    ]
    rows.extend(_proposed_models(by, latencies, lat_noise, paper))
    return rows


def _proposed_models(
    by: pd.DataFrame, latencies: pd.DataFrame, lat_noise: float, paper: dict[str, Any]
) -> list[dict]:
    """The conclusion's two models: 0250_rec better overall; impr_small's printed numbers."""
    nan = math.nan
    rows = []
    base_lat = _latency(latencies, "baseline")
    have = {"baseline", "0250_rec"} <= set(by.index)
    if have:
        base, own = by.loc["baseline"], by.loc["0250_rec"]
        noise = _mae_noise(by.loc[["baseline", "0250_rec"]].reset_index())
        faster = verdicts.margin_verdict(base_lat - _latency(latencies, "0250_rec"), lat_noise)
        not_worse = verdicts.margin_verdict(2 * noise - (own["mae_cm"] - base["mae_cm"]), noise)
        ours = (
            f"latency {_latency(latencies, '0250_rec'):.3f} vs {base_lat:.3f} ms; MAE "
            f"{own['mae_cm']:.2f} vs {base['mae_cm']:.2f} cm"
        )
    rows.append(
        {
            "finding": "0250_rec is better than the baseline overall",
            "poster": "0250_rec is an overall improvement over the baseline",
            "ours": ours if have else "not run",
            "margin": nan,
            "noise": noise if have else nan,
            "verdict": verdicts.combine([faster, not_worse]) if have else "not tested",
            "rule": "faster beyond timing noise and MAE not clearly worse (< 2 seed noises)",
        }
    )
    have = {"baseline", "impr_small"} <= set(by.index)
    saving = 100 * (1 - _latency(latencies, "impr_small") / base_lat) if have else nan
    saving_ort = (
        100
        * (
            1
            - _latency(latencies, "impr_small", "onnxruntime")
            / _latency(latencies, "baseline", "onnxruntime")
        )
        if have
        else nan
    )
    noise_pct = 100 * lat_noise / base_lat if have else nan
    rows.append(
        {
            "finding": "impr_small's latency saving (PyTorch, batch 1)",
            "poster": f"{paper['latency_value']:g} % saved",
            "ours": f"{saving:.1f} % (ONNX Runtime: {saving_ort:.1f} %)",
            "margin": saving,
            "noise": noise_pct,
            "verdict": verdicts.effect_verdict(
                saving, paper["latency_value"], noise_pct, paper["latency_precision"]
            ),
            "rule": "|ours - poster| within timing noise (% of the baseline) + printed precision",
        }
    )
    if have:
        base, own = by.loc["baseline"], by.loc["impr_small"]
        cost = 100 * (own["mae_cm"] / base["mae_cm"] - 1)
        noise = 100 * _mae_noise(by.loc[["baseline", "impr_small"]].reset_index()) / base["mae_cm"]
    rows.append(
        {
            "finding": "impr_small's accuracy cost (relative test MAE)",
            "poster": f"{paper['accuracy_value']:g} % cost",
            "ours": f"{cost:+.1f} % MAE" if have else "not run",
            "margin": cost if have else nan,
            "noise": noise if have else nan,
            "verdict": verdicts.effect_verdict(
                cost, paper["accuracy_value"], noise, paper["accuracy_precision"]
            )
            if have
            else "not tested",
            "rule": "|ours - poster| within seed noise (% of the baseline's MAE) + printed "
            "precision; the poster does not say which accuracy measure, nor relative or points",
        }
    )
    return rows


def findings_table(table: pd.DataFrame, latencies: pd.DataFrame) -> pd.DataFrame:
    """Every finding of the poster with our measurement per data set and a verdict.

    Args:
        table: :func:`study_table` (one row per config and data set, seeds averaged).
        latencies: :func:`runtime_latency`.

    Returns:
        :data:`FINDING_COLUMNS` (``verdict`` and ``noise`` are the real data's where it
        ran, else the simulation's), then ``verdict_mars``, ``verdict_sim``,
        ``margin_mars``, ``margin_sim``, ``noise_sim``.
    """
    from pose_helpers.chapters.references import seed_table

    printed = seed_table("mmwave_findings").set_index(["model", "metric"])
    paper = {}
    for metric in ("latency", "accuracy"):
        value = printed.loc[("impr_small", metric)]
        paper[f"{metric}_value"] = float(value["value_pct"])
        paper[f"{metric}_precision"] = verdicts.printed_precision(str(value["value_as_printed"]))
    measured = {
        dataset: _measure(part, latencies, paper)
        for dataset, part in table.groupby("dataset", sort=False)
    }
    main = "mars" if "mars" in measured else next(iter(measured))
    rows = []
    for i, first in enumerate(measured[main]):
        row = {"finding": first["finding"], "poster": first["poster"]}
        for dataset in ("mars", "sim"):
            found = measured.get(dataset)
            row[f"ours_{dataset}"] = found[i]["ours"] if found else "not run"
            row[f"verdict_{dataset}"] = found[i]["verdict"] if found else "not tested"
            row[f"margin_{dataset}"] = found[i]["margin"] if found else math.nan
            row[f"noise_{dataset}"] = found[i]["noise"] if found else math.nan
        row["verdict"] = row[f"verdict_{main}"]
        row["noise"] = row[f"noise_{main}"]
        row["rule"] = first["rule"]
        rows.append(row)
    out = pd.DataFrame(rows)
    extra = ["verdict_mars", "verdict_sim", "margin_mars", "margin_sim", "noise_sim"]
    return out[[*FINDING_COLUMNS, *extra]]

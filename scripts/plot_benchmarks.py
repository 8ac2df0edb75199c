#!/usr/bin/env python3
"""Tables and the batch-scaling plot of BENCHMARKS.md, from criterion's output.

Reads target/criterion/**/new/{benchmark,estimates}.json (the last
`cargo bench` run) and benches/floor_counts.json (scripts/count_ops.sh),
prints the Markdown tables of BENCHMARKS.md and writes
docs/batch_scaling.png.

    python3 scripts/plot_benchmarks.py [--criterion target/criterion] [--png docs/batch_scaling.png]

Needs matplotlib for the plot (`pip install matplotlib`); without it the
tables are still printed.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_medians(criterion_dir):
    """full_id -> (median ns, elements or None)."""
    out = {}
    for dirpath, _, files in os.walk(criterion_dir):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        elements = (bench.get("throughput") or {}).get("Elements")
        out[bench["full_id"]] = (est["median"]["point_estimate"], elements)
    return out


def fmt(ns):
    if ns is None:
        return "–"
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def floor_of(counts, med):
    """The floor of one operation: count × median of each primitive."""
    def m(name):
        v = med.get("floor/" + name)
        if v is None:
            raise KeyError(name)
        return v[0]

    total = 0.0
    total += counts["varbase"] * m("varbase_mul") if counts["varbase"] else 0
    total += counts["basepoint_table"] * m("basepoint_table_mul") if counts["basepoint_table"] else 0
    total += counts["double_base"] * m("double_base") if counts["double_base"] else 0
    total += counts["compress"] * m("compress") if counts["compress"] else 0
    total += counts["decompress"] * m("decompress") if counts["decompress"] else 0
    total += counts["hash_to_group"] * m("hash_to_group") if counts["hash_to_group"] else 0
    inversions = counts["invert"] + counts["batch_invert"]
    total += inversions * m("scalar_invert") if inversions else 0
    for n, k in counts["ct_msm"]:
        total += k * m(f"ct_msm/{n}")
    for n, s, k in counts["vt_msm"]:
        total += k * m(f"vt_msm/{n}x{s}")
    return total


def describe(counts):
    """A short text of the operation counts."""
    parts = []
    names = [("varbase", "mul"), ("basepoint_table", "mul_G"), ("double_base", "dbl"), ("hash_to_group", "h2g")]
    for key, label in names:
        if counts[key]:
            parts.append(f"{counts[key]} {label}")
    ct = counts["ct_msm"]
    if ct:
        terms = sum(n * k for n, k in ct)
        calls = sum(k for _, k in ct)
        parts.append(f"ct-MSM {calls}× ({terms} terms)")
    vt = counts["vt_msm"]
    if vt:
        if len(vt) <= 3:
            parts.append("vt-MSM " + " + ".join(
                (f"{k}×" if k > 1 else "") + f"{n}" + (f" ({s} short)" if s else "") for n, s, k in vt))
        else:
            terms = sum(n * k for n, _, k in vt)
            calls = sum(k for _, _, k in vt)
            parts.append(f"vt-MSM {calls}× ({terms} terms)")
    if counts["compress"] or counts["decompress"]:
        parts.append(f"{counts['compress']} C / {counts['decompress']} D")
    inv = counts["invert"] + counts["batch_invert"]
    if inv:
        parts.append(f"{inv} inv")
    return ", ".join(parts) if parts else "none"


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criterion", default=os.path.join(ROOT, "target", "criterion"))
    ap.add_argument("--counts", default=os.path.join(ROOT, "benches", "floor_counts.json"))
    ap.add_argument("--png", default=os.path.join(ROOT, "docs", "batch_scaling.png"))
    args = ap.parse_args()

    med = load_medians(args.criterion)
    if not med:
        sys.exit(f"no criterion results under {args.criterion}: run `cargo bench --bench '*'` first")
    with open(args.counts) as f:
        counts = json.load(f)

    def get(i):
        return med.get(i, (None, None))[0]

    # 1. Every measured operation, with its floor.
    rows = []
    for bench_id in sorted(med):
        if bench_id.startswith("floor/"):
            continue
        ns, elements = med[bench_id]
        per = f"{fmt(ns / elements)}" if elements and elements > 1 else ""
        c = counts.get(bench_id)
        if c is not None:
            try:
                fl = floor_of(c, med)
            except KeyError:
                fl = None
        else:
            fl = None
        ratio = f"{ns / fl:.2f}" if fl else "–"
        rows.append((f"`{bench_id}`", fmt(ns), per, describe(c) if c else "–", fmt(fl) if fl else "–", ratio))
    print("### All operations\n")
    print(table(["bench", "median", "per coin", "group operations (counted)", "floor", "measured / floor"], rows))

    # 2. Floor primitives.
    rows = [(f"`{k}`", fmt(v[0])) for k, v in sorted(med.items()) if k.startswith("floor/")]
    print("\n### Floor primitives (curve25519-dalek alone)\n")
    print(table(["primitive", "median"], rows))

    # 3. Batch scaling.
    sizes = sorted({int(k.split("/")[-1]) for k in med if k.startswith("deposit/batched/")})
    rows = []
    series = {s: [] for s in ("batched", "one_by_one", "equations_batched", "equations_one_by_one")}
    for n in sizes:
        vals = {s: get(f"deposit/{s}/{n}") for s in series}
        for s in series:
            series[s].append(vals[s] / n if vals[s] else None)
        r_full = vals["one_by_one"] / vals["batched"] if vals["batched"] and vals["one_by_one"] else None
        r_eq = (vals["equations_one_by_one"] / vals["equations_batched"]
                if vals["equations_batched"] and vals["equations_one_by_one"] else None)
        rows.append((n,
                     fmt(vals["batched"]), fmt(vals["batched"] / n if vals["batched"] else None),
                     fmt(vals["one_by_one"] / n if vals["one_by_one"] else None),
                     f"{r_full:.2f}×" if r_full else "–",
                     fmt(vals["equations_batched"] / n if vals["equations_batched"] else None),
                     fmt(vals["equations_one_by_one"] / n if vals["equations_one_by_one"] else None),
                     f"{r_eq:.2f}×" if r_eq else "–"))
    print("\n### Deposit verification by batch size (one-coin payments)\n")
    print(table(["coins", "batched total", "batched / coin", "one by one / coin", "speed-up",
                 "equations batched / coin", "equations one by one / coin", "speed-up"], rows))
    b64 = get("deposit/batched_64_coin_payments/1024")
    o64 = get("deposit/one_by_one_64_coin_payments/1024")
    if b64 and o64:
        print(f"\n1024 coins as 16 payments of 64 coins: batched {fmt(b64)} ({fmt(b64 / 1024)} per coin), "
              f"payment by payment {fmt(o64)} ({fmt(o64 / 1024)} per coin), {o64 / b64:.2f}×.")

    # 4. Targets.
    eq_b, eq_o = get("deposit/equations_batched/1024"), get("deposit/equations_one_by_one/1024")
    verify1 = get("pay/verify/1")
    dep_b, dep_o = get("deposit/batched/1024"), get("deposit/one_by_one/1024")
    rows = []
    if dep_b:
        rows.append(("deposit of 1024 one-coin payments, per coin", "≤ 275 µs", fmt(dep_b / 1024),
                     "met" if dep_b / 1024 <= 275e3 else "missed"))
    if dep_b and dep_o:
        rows.append(("deposit of 1024 one-coin payments, batched vs one by one", "≥ 2×",
                     f"{dep_o / dep_b:.2f}×", "met" if dep_o / dep_b >= 2 else "missed"))
    if eq_b and eq_o:
        rows.append(("group equations of 1024 coins, batched vs one by one", "≥ 3× per-coin throughput",
                     f"{eq_o / eq_b:.2f}×", "met" if eq_o / eq_b >= 3 else "missed"))
    if verify1:
        rows.append(("merchant verification, one-coin payment", "≤ 2 ms", fmt(verify1),
                     "met" if verify1 <= 2e6 else "missed"))
    # The bank-side target is the bank's whole work per coin, store included.
    for store, label in (("memory", "in-memory store"), ("sqlite", "SQLite store")):
        for n in (1, 64):
            v = get(f"withdraw/bank_{store}_store/{n}")
            if v:
                rows.append((f"bank-side withdrawal, per coin, {label} ({n} coin{'s' if n > 1 else ''})",
                             "≤ 0.5 ms", fmt(v / n), "met" if v / n <= 0.5e6 else "missed"))
    print("\n### Targets\n")
    print(table(["target", "required", "measured", ""], rows))

    # 4b. The per-coin work around the arithmetic of a deposit.
    queue, coin_id = get("deposit/queue_only/1024"), get("encoding/coin_id")
    if queue:
        print(f"\nQueueing the equations of 1024 coins without verifying them (`deposit/queue_only/1024`): "
              f"{fmt(queue)}, {fmt(queue / 1024)} per coin.")
    if coin_id:
        print(f"A coin's id (`encoding/coin_id`): {fmt(coin_id)}.")

    # 5. Baseline.
    rsa_sign, rsa_verify = get("baseline/rsa2048_blind_sign"), get("baseline/rsa2048_verify")
    rsa_user = get("baseline/rsa2048_user_blind_finalize")
    fc_bank, fc_verify = get("baseline/faircash_bank_withdraw"), get("baseline/faircash_merchant_verify")
    fc_user = get("baseline/faircash_user_withdraw")
    dep = get("deposit/batched/1024")
    rows = []
    if rsa_sign and fc_bank:
        rows.append(("bank, per coin issued", fmt(rsa_sign), fmt(fc_bank), f"{fc_bank / rsa_sign:.2f}"))
    if rsa_verify and fc_verify:
        rows.append(("merchant, per one-coin payment", fmt(rsa_verify), fmt(fc_verify),
                     f"{fc_verify / rsa_verify:.2f}"))
    if rsa_verify and dep:
        rows.append(("bank, per coin deposited (batch of 1024)", fmt(rsa_verify), fmt(dep / 1024),
                     f"{dep / 1024 / rsa_verify:.2f}"))
    if rsa_user and fc_user:
        rows.append(("user, per coin withdrawn", fmt(rsa_user), fmt(fc_user), f"{fc_user / rsa_user:.2f}"))
    print("\n### Baseline: RSA-2048 blind signatures (RFC 9474)\n")
    print(table(["role", "RSA-2048 blind", "faircash", "faircash / RSA"], rows))

    # 6. The plot.
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(matplotlib not installed: no plot)", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    labels = {
        "batched": "deposit, batched (verify_deposit)",
        "one_by_one": "deposit, one payment at a time",
        "equations_batched": "group equations, one batch",
        "equations_one_by_one": "group equations, one batch per coin",
    }
    styles = {"batched": "o-", "one_by_one": "o--", "equations_batched": "s-", "equations_one_by_one": "s--"}
    for s, ys in series.items():
        pts = [(n, y / 1e3) for n, y in zip(sizes, ys) if y]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], styles[s], label=labels[s])
    floor_rows = []
    for n in sizes:
        c = counts.get(f"deposit/equations_batched/{n}")
        try:
            floor_rows.append((n, floor_of(c, med) / n / 1e3) if c else None)
        except KeyError:
            floor_rows.append(None)
    floor_rows = [r for r in floor_rows if r]
    if floor_rows:
        ax.plot([r[0] for r in floor_rows], [r[1] for r in floor_rows], ":", color="gray",
                label="floor of the batched equations (one MSM)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("coins per deposit request (one-coin payments)")
    ax.set_ylabel("verification time per coin (µs)")
    ax.set_title("faircash deposit verification: cost per coin by batch size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(args.png), exist_ok=True)
    fig.savefig(args.png)
    print(f"\n(wrote {os.path.relpath(args.png, ROOT)})", file=sys.stderr)


if __name__ == "__main__":
    main()

"""The shipped program's headline: EL, VaR 0.999 and ES 0.999 for JBIC, NEXI and ALL, of
credit loss, economic loss (US$ bn) and economic loss in yen (trn), each ± its standard
error; the figures CHANGELOG quotes before and after a change to the shipped program.

    python benchmarks/headline.py --paths 100000
    python benchmarks/headline.py --paths 100000 --config data/program/elections.toml
    python benchmarks/headline.py --paths 100000 --set program.selection_correlation=0
"""

from __future__ import annotations

import argparse
import warnings

import riskengine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=100_000)
    ap.add_argument("--config", default=None, help="a config (default: the shipped program)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=NUMBER",
                    help="override one numeric config key (repeatable)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    overrides: dict = {}
    for item in args.set:
        key, value = item.split("=")
        section, name = key.split(".")
        overrides.setdefault(section, {})[name] = float(value)
    config = riskengine.load_config(args.config, overrides or None)
    r = riskengine.simulate(config, paths=args.paths)
    for var, scale in (("credit_loss", 1e9), ("economic_loss", 1e9),
                       ("economic_loss_jpy", 1e12)):
        for inst in ("JBIC", "NEXI", "ALL"):
            cells = [f"{m} {v / scale:8.2f} ±{se / scale:.2f}"
                     for m, lv in (("EL", None), ("VaR", 0.999), ("ES", 0.999))
                     for v, se in [r.estimate(m, var, inst, lv)]]
            print(f"{var:18s} {inst:5s} " + "  ".join(cells))


if __name__ == "__main__":
    main()

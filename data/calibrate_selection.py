#!/usr/bin/env python3
"""The shipped program's `program.selection_correlation` from the bivariate normal (no
simulation): the correlation that makes its selected pipeline units default RATIO times
as often as the pipeline's average ("pipeline") and as the units the US leaves out
("unselected"). data/README.md "Adverse selection" gives the argument for the ratio.

    python data/calibrate_selection.py            # ratios 1, 1.5 and 3
    python data/calibrate_selection.py 1.25 2     # others
"""

import riskengine
from riskengine.runs import resolve_portfolio
from riskengine.selection import main

if __name__ == "__main__":
    config = riskengine.load_config()
    main(riskengine.build_model(config, resolve_portfolio(None, config)))

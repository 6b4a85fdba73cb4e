"""Importance sampling's pilot: a plain run of the model on its own seed, whose tail the
sampler is aimed at (:mod:`riskengine.importance` derives the tilt from it)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._kernels.defaults import factor_normals
from .config import apply_overrides
from .importance import Pilot, fits_tail, pilot_seed, tilt
from .kernel_inputs import Model, build_model


def run_pilot(model: Model, run: Callable) -> Pilot:
    """Run the model's pilot (``isc.pilot_paths`` plain paths on the pilot's seed, only
    losses kept) with ``run(model) -> Result`` (the plain simulation, passed in so the
    import graph stays one-way)."""
    isc = model.config.importance_sampling
    pilot_cfg = apply_overrides(model.config, {
        "simulation": {"paths": isc.pilot_paths, "seed": pilot_seed(model.config.simulation.seed)},
        "importance_sampling": {"enabled": False},
        "outputs": {"timeline_paths": 1, "irr_paths": 1, "contributions": False}})
    # (the pilot needs only losses)
    pilot_model = build_model(pilot_cfg, model.portfolio, model.scenario)
    pilot = run(pilot_model)
    loss = pilot.loss("credit_loss", "ALL")
    regime = (pilot.paths["regime"].to_numpy() if "regime" in pilot.paths
              else np.zeros(len(loss), dtype=np.int64))
    z = None
    if fits_tail(model):  # the shift is fitted to the factor normals of the pilot's tail
        z = np.empty((isc.pilot_paths, model.inputs.copula.root.shape[0]))
        factor_normals(np.arange(isc.pilot_paths, dtype=np.int64),
                       pilot_model.inputs.copula.factor_key, z)
    return Pilot(loss=loss, regime=regime, seed=pilot_cfg.simulation.seed, z=z)


def tilted_sampler(model: Model, run: Callable):
    """Run the pilot and aim the sampler at its ``target_level`` loss: ``(Sampler, dict)``,
    the tilted sampler bundle and what the manifest records."""
    return tilt(model, run_pilot(model, run))

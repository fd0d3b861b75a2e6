"""Datasets: MPII annotations (:mod:`.mpii`), SynthPose renders of them (:mod:`.synthpose`),
MARS radar features (:mod:`.mars`) and a simulated radar (:mod:`.radarsim`)."""

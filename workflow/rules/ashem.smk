# ASHEM (word level): phase 1 -> threshold and mining -> phase 2 -> two-stage evaluation,
# each stage its own rule; plus the fair baselines and progressive layer training.

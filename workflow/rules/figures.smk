# Figures read only results/: a figure change never retrains.

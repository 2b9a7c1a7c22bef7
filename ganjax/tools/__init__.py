"""Tools over whole runs: benchmarks, sweeps, reproduction tables and the task registry;
the only library code that reads configs/."""

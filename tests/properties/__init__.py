"""Property tests: convergence of plan/apply against the emulator as a state machine."""

"""The shared core every app may import: errors, background executors, snapshots, lifecycle. Imports no app."""

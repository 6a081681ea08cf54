"""The reliability campaign's short versions (the full one: `make reliability`). Each test
runs a few cases of one part of tests/reliability/ and fails on any broken promise, with
the cases that broke it."""

"""Forecasting: bargaining models, ensembles, probability pooling, backtests and event feeds (issue #10)."""

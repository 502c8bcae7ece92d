"""Tests of the documentation: its examples run or validate as written."""

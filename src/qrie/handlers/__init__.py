"""Thin Lambda entry points: wire Powertools, parse, call one domain function, return."""

"""The vendor-neutral kit the sandbox apps share (DESIGN §3, §9). Only sandbox apps import it."""

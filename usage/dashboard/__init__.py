"""The usage dashboards: filters, panel queries (roll-up and bounded raw reads), and their admin views."""

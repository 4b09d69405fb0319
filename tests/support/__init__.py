"""What the tests share across tiers: fakes of the ports, factories, fixtures and paths."""

"""druginv_agents."""

"""Reading a finished or running study: the HTML report, its plots, the dashboard."""

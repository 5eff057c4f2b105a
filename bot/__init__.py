"""Step 3 of the pipeline: answer → WeChat reply → activity record → review / export."""

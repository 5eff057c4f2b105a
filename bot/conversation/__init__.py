"""A message's turn: which reply it gets (dialogue), a question's consultation within the reply
budget, and the match against curated answers."""

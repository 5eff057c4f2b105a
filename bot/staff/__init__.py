"""What volunteers and staff use: console users and log-in, reviews, curated answers, follow-up
replies, statistics and exports."""

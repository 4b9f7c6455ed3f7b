"""Closing the loop: gates, promotion, policies and the watcher that runs them."""

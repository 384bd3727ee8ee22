"""The Slack bot: Bolt app, listeners, Web API resilience, and a local fake Slack for tests and the sandbox."""

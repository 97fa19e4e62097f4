"""Platform adapters: each translates its platform's payloads to `ChatMessage` and renders `Reply`.

Nothing outside this package imports slack_bolt or botbuilder.
"""

"""Large payloads in object storage: uploads, the checks at Enqueue, workers' URLs, clean-up."""

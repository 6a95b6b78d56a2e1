"""Publishing stage: payload encoding (pure), sequence numbers, and the MQTT client."""

"""The media benchmark: our forwarder and Janus's VideoRoom under the same synthetic load."""

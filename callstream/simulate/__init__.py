"""The contact-center traffic simulator: traffic curves, conversations, ground truth."""

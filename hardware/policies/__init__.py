"""Where the bridge's policy comes from: a scripted one, a trained run, or an exported blob."""

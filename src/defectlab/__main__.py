from defectlab.cli.main import entry

entry()

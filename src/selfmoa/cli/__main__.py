"""`python -m selfmoa.cli ...` (the same as `selfmoa ...`), e.g. under `accelerate launch -m selfmoa.cli train run ...`."""

from selfmoa.cli.app import main

if __name__ == "__main__":
    main()

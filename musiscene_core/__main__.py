from musiscene_core.cli import main

main()

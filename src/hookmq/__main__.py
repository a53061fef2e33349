from hookmq.cli import main

main()

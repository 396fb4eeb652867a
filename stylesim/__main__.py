from stylesim.cli import main

main()

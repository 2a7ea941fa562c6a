"""Build steps of the Lambda package (src/Makefile, so ``sam build``): never deployed itself."""

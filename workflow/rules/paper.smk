# Generated numbers and tables, then the PDF.

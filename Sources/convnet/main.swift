print("convnet")
